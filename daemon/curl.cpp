#include "curl.hpp"
#include "text.hpp"

#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#ifndef TACK_VERSION
#define TACK_VERSION "dev"
#endif

namespace tack {

namespace {

// A provider's answer is read up to limits.max_response_bytes (the rest is
// dropped, not refused); response headers past this many are dropped too.
constexpr std::size_t kDefaultMaxBodyBytes = 1024 * 1024;
constexpr std::size_t kMaxResponseHeaders = 200;

// Easy handles are kept for the next transfer on the same thread (reset:
// no option, credential or header of the last one is left): a fresh handle
// allocates its state and buffers again, a measurable share of a request
// at thousands per second. Connections live in the multi handle's cache
// either way.
struct EasyPool {
  static constexpr std::size_t kMaxIdle = 64;
  std::vector<CURL*> idle;
  EasyPool() = default;
  EasyPool(const EasyPool&) = delete;
  EasyPool& operator=(const EasyPool&) = delete;
  ~EasyPool() {
    for (CURL* easy : idle) curl_easy_cleanup(easy);
  }
};
thread_local EasyPool easy_pool;

CURL* take_easy() {
  if (easy_pool.idle.empty()) return curl_easy_init();
  CURL* easy = easy_pool.idle.back();
  easy_pool.idle.pop_back();
  return easy;
}

struct EasyDeleter {
  void operator()(CURL* easy) const {
    if (easy_pool.idle.size() < EasyPool::kMaxIdle) {
      curl_easy_reset(easy);
      easy_pool.idle.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void init_curl_once() {
  // A function-local static is initialised exactly once, even when several
  // threads get here first; curl_global_init itself must not run twice
  // concurrently.
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)code;
}

// curl_slist_append returns a new head (or null on failure, leaving the old
// list intact), so the owner is updated only on success.
void append(Slist& list, const std::string& line) {
  if (curl_slist* head = curl_slist_append(list.get(), line.c_str())) {
    list.release();
    list.reset(head);
  }
}

long whole_seconds_rounded_up(std::chrono::milliseconds ms) {
  if (ms.count() <= 0) return 0;
  return static_cast<long>((ms.count() + 999) / 1000);
}

// Type-erased, move-only holder for an awaiter's completion handler (Boost
// 1.74 has no any_completion_handler). It keeps the handler's executor busy
// while the transfer runs, and always posts the completion: curl calls us
// from inside curl_multi_socket_action, and resuming a coroutine there
// would let it re-enter the multi handle.
struct Completion {
  virtual ~Completion() = default;
  virtual void complete(TransferResult result) = 0;
};

template <typename Handler>
class CompletionFor final : public Completion {
 public:
  CompletionFor(Handler handler, const asio::io_context::executor_type& fallback)
      : handler_(std::move(handler)),
        work_(asio::prefer(asio::any_io_executor(asio::get_associated_executor(handler_, fallback)),
                           asio::execution::outstanding_work.tracked)) {}

  void complete(TransferResult result) override {
    asio::post(work_, [handler = std::move(handler_), result = std::move(result)]() mutable {
      handler(std::move(result));
    });
  }

 private:
  Handler handler_;
  asio::any_io_executor work_;
};

struct Transfer {
  EasyHandle easy;
  Slist headers;
  Slist recipients;
  bool smtp = false;
  std::string payload;  // HTTP body or SMTP message; curl reads from it
  std::size_t max_body = kDefaultMaxBodyBytes;  // of the answer kept
  std::size_t upload_offset = 0;
  bool upload_started = false;
  int requests = 0;  // HTTP: times libcurl was about to send the request
  char error[CURL_ERROR_SIZE] = {};
  std::vector<std::string> smtp_replies;
  TransferResult result;
  std::chrono::steady_clock::time_point started;
  std::unique_ptr<Completion> completion;
  CURLcode setup_error = CURLE_OK;  // set when the handle could not be configured
  std::atomic<std::size_t>* lane_in_flight = nullptr;  // an SMTP lane's count, if on one
  curl_socket_t socket = CURL_SOCKET_BAD;  // its connection's socket, while curl watches it
  unsigned interrupts_at_start = 0;        // Driver::interrupts_ when it started
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  std::string& body = transfer->result.body;
  // Past the cap the rest is dropped, not refused: a short count would abort
  // a transfer whose status we still want.
  const std::size_t cap = transfer->max_body;
  if (body.size() < cap) body.append(data, std::min(bytes, cap - body.size()));
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line(data, bytes);
  if (transfer->smtp) {
    // For SMTP, libcurl hands every server reply line to the header callback:
    // that is where the reply text ("550 5.1.1 user unknown") comes from.
    std::string reply = trim(line, " \t\r\n");
    if (!reply.empty() && transfer->smtp_replies.size() < kMaxResponseHeaders) {
      transfer->smtp_replies.push_back(std::move(reply));
    }
    return bytes;
  }
  auto& headers = transfer->result.headers;
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after 100 Continue or a redirect): keep only the
    // headers of the final response.
    headers.clear();
    return bytes;
  }
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
    if (!headers.empty()) headers.back().second += " " + trim(line, " \t\r\n");
    return bytes;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || headers.size() >= kMaxResponseHeaders) return bytes;
  headers.emplace_back(lowercase(trim(line.substr(0, colon), " \t\r\n")),
                       trim(line.substr(colon + 1), " \t\r\n"));
  return bytes;
}

size_t on_upload(char* buffer, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t room = size * count;
  const std::size_t left = transfer->payload.size() - transfer->upload_offset;
  const std::size_t n = std::min(room, left);
  std::memcpy(buffer, transfer->payload.data() + transfer->upload_offset, n);
  transfer->upload_offset += n;
  // libcurl asks for the message only after the server answered DATA with
  // 354, so from here on the server may act on what it gets.
  if (n > 0) transfer->upload_started = true;
  return n;
}

// libcurl calls this each time it is about to send the request on a
// connection, new or reused: again for its own retry on a new connection.
int on_request(void* user, char*, char*, int, int) {
  ++static_cast<Transfer*>(user)->requests;
  return CURL_PREREQFUNC_OK;
}

template <typename T>
void set(Transfer& transfer, CURLoption option, T value) {
  const CURLcode code = curl_easy_setopt(transfer.easy.get(), option, value);
  if (code != CURLE_OK && transfer.setup_error == CURLE_OK) transfer.setup_error = code;
}

void set_common(Transfer& transfer, const Timeouts& timeouts, bool verify_tls,
                const std::string& ca_file) {
  set(transfer, CURLOPT_PRIVATE, static_cast<void*>(&transfer));
  set(transfer, CURLOPT_NOSIGNAL, 1L);
  set(transfer, CURLOPT_ERRORBUFFER, transfer.error);
  set(transfer, CURLOPT_HEADERFUNCTION, &on_header);
  set(transfer, CURLOPT_HEADERDATA, static_cast<void*>(&transfer));
  set(transfer, CURLOPT_WRITEFUNCTION, &on_body);
  set(transfer, CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
  set(transfer, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect.count()));
  set(transfer, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts.total.count()));
  set(transfer, CURLOPT_LOW_SPEED_LIMIT, timeouts.low_speed_bytes);
  set(transfer, CURLOPT_LOW_SPEED_TIME, whole_seconds_rounded_up(timeouts.low_speed_time));
  set(transfer, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!verify_tls) {
    set(transfer, CURLOPT_SSL_VERIFYPEER, 0L);
    set(transfer, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!ca_file.empty()) set(transfer, CURLOPT_CAINFO, ca_file.c_str());
}

bool has_header(const std::vector<std::pair<std::string, std::string>>& headers,
                const std::string& lowercase_name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& header) { return lowercase(header.first) == lowercase_name; });
}

// A transfer with its easy handle, or with setup_error when there is none.
std::unique_ptr<Transfer> new_transfer(bool smtp) {
  auto transfer = std::make_unique<Transfer>();
  transfer->smtp = smtp;
  transfer->easy.reset(take_easy());
  if (!transfer->easy) transfer->setup_error = CURLE_OUT_OF_MEMORY;
  return transfer;
}

std::unique_ptr<Transfer> make_transfer(HttpRequest& request) {
  auto transfer = new_transfer(false);
  if (!transfer->easy) return transfer;
  Transfer& t = *transfer;
  set_common(t, request.timeouts, request.verify_tls, request.ca_file);
  set(t, CURLOPT_URL, request.url.c_str());
  // A URL built from a template must not turn into file:// or gopher://.
  set(t, CURLOPT_PROTOCOLS_STR, "http,https");
  set(t, CURLOPT_USERAGENT, "tack/" TACK_VERSION);
  set(t, CURLOPT_PREREQFUNCTION, &on_request);
  set(t, CURLOPT_PREREQDATA, static_cast<void*>(&t));

  t.payload = std::move(request.body);
  const std::string& method = request.method;
  if (method == "HEAD") {
    set(t, CURLOPT_NOBODY, 1L);
  } else if (method == "GET" && t.payload.empty()) {
    set(t, CURLOPT_HTTPGET, 1L);
  } else if (method == "POST" || method == "PUT" || method == "PATCH" || !t.payload.empty()) {
    set(t, CURLOPT_POSTFIELDS, t.payload.data());
    set(t, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.payload.size()));
    if (method != "POST") set(t, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else {
    set(t, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  for (const auto& [name, value] : request.headers) {
    // "Name;" is libcurl's way to send a header with an empty value.
    append(t.headers, value.empty() ? name + ";" : name + ": " + value);
  }
  // Without these libcurl adds its own: a form Content-Type the provider did
  // not ask for, and an Expect: 100-continue round trip on larger bodies.
  if (!has_header(request.headers, "content-type")) append(t.headers, "Content-Type:");
  if (!has_header(request.headers, "expect")) append(t.headers, "Expect:");
  if (!request.bearer_token.empty())
    append(t.headers, "Authorization: Bearer " + request.bearer_token);
  set(t, CURLOPT_HTTPHEADER, t.headers.get());

  if (!request.username.empty() || !request.password.empty()) {
    set(t, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    set(t, CURLOPT_USERNAME, request.username.c_str());
    set(t, CURLOPT_PASSWORD, request.password.c_str());
  }
  // curl copies string options, so request may go away after this.
  return transfer;
}

std::unique_ptr<Transfer> make_transfer(SmtpRequest& request) {
  auto transfer = new_transfer(true);
  if (!transfer->easy) return transfer;
  Transfer& t = *transfer;
  set_common(t, request.timeouts, request.verify_tls, request.ca_file);
  set(t, CURLOPT_URL, request.url.c_str());
  set(t, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // Bounds each wait for a server reply too, not only the whole transfer.
  set(t, CURLOPT_SERVER_RESPONSE_TIMEOUT,
      std::max(1L, whole_seconds_rounded_up(request.timeouts.total)));
  switch (request.tls) {
    case SmtpRequest::Tls::None:
      set(t, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_NONE));
      break;
    case SmtpRequest::Tls::StartTls:
    case SmtpRequest::Tls::Implicit:
      set(t, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
      break;
  }
  if (!request.username.empty()) {
    set(t, CURLOPT_USERNAME, request.username.c_str());
    set(t, CURLOPT_PASSWORD, request.password.c_str());
  }
  set(t, CURLOPT_MAIL_FROM, request.mail_from.c_str());
  for (const auto& rcpt : request.rcpt_to) append(t.recipients, rcpt);
  set(t, CURLOPT_MAIL_RCPT, t.recipients.get());
  t.payload = std::move(request.message);
  set(t, CURLOPT_UPLOAD, 1L);
  set(t, CURLOPT_READFUNCTION, &on_upload);
  set(t, CURLOPT_READDATA, static_cast<void*>(&t));
  set(t, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.payload.size()));
  return transfer;
}

}  // namespace

bool TransferResult::connect_failed() const {
  if (request_sent) return false;
  switch (curl_code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:  // a connect timeout, since nothing was sent
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return true;
    default:
      return false;
  }
}

std::string TransferResult::header(const std::string& lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return {};
}

namespace {

// Sockets are libcurl's; Asio only watches them. A Watch is what Asio knows
// of one socket: a descriptor assigned to curl's fd (released, never closed,
// by us) and what curl currently wants to hear about.
struct Watch {
  explicit Watch(asio::io_context& io, curl_socket_t fd) : fd(fd), descriptor(io, fd) {}
  curl_socket_t fd;
  asio::posix::stream_descriptor descriptor;
  int wanted = CURL_POLL_NONE;
  bool reading = false;  // an async_wait for read is pending
  bool writing = false;
  bool gone = false;  // curl removed or closed it; pending waits must do nothing
};

// One libcurl multi handle driven by one io_context, used only from that
// io_context's thread: sockets are watched with Asio, curl's timeout is an
// Asio timer.
class Driver {
 public:
  explicit Driver(asio::io_context& io) : io_(io), timer_(io) {
    init_curl_once();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Driver::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Driver::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }

  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  void keep_connections(std::size_t count) {
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(count));
  }

  ~Driver() {
    cancel_all("transfer cancelled: curl layer shut down");
    timer_.cancel();
    // Cleanup closes cached connections through our close-socket callback,
    // which still needs watches_.
    curl_multi_cleanup(multi_);
    for (auto& [fd, watch] : watches_) forget(*watch);
    watches_.clear();
  }

  // The transfer's completion is set; it is called (posted) exactly once.
  void start(std::unique_ptr<Transfer> transfer) {
    transfer->started = std::chrono::steady_clock::now();
    transfer->interrupts_at_start = interrupts_;
    if (transfer->setup_error == CURLE_OK) {
      // Set here, not when the request is built: the callback data is this
      // Driver, which outlives every connection in curl's cache.
      set(*transfer, CURLOPT_CLOSESOCKETFUNCTION, &Driver::on_close_socket);
      set(*transfer, CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this));
    }
    if (const CURLcode error = transfer->setup_error; error != CURLE_OK) {
      finish(std::move(transfer), error);
      return;
    }
    CURL* easy = transfer->easy.get();
    const CURLMcode added = curl_multi_add_handle(multi_, easy);
    if (added != CURLM_OK) {
      transfer->result.curl_code = CURLE_FAILED_INIT;
      transfer->result.curl_error = curl_multi_strerror(added);
      complete(std::move(transfer));
      return;
    }
    transfers_.emplace(easy, std::move(transfer));
  }

  void cancel_all(const std::string& why) {
    auto transfers = std::move(transfers_);
    transfers_.clear();
    for (auto& [easy, transfer] : transfers) {
      collect(*transfer, CURLE_ABORTED_BY_CALLBACK);
      transfer->result.curl_error = why;
      // libcurl's SMTP "done" step ignores that the transfer is cut short:
      // it sends the end-of-data "." (completing a truncated message, or as
      // a stray command before DATA) and waits for the reply. A dead
      // connection makes that write fail at once.
      if (transfer->smtp && transfer->socket != CURL_SOCKET_BAD) {
        ::shutdown(transfer->socket, SHUT_RDWR);
      }
      curl_multi_remove_handle(multi_, easy);
      complete(std::move(transfer));
    }
  }

  std::size_t in_flight() const { return transfers_.size(); }

  // Callable from any thread: ends the TCP session of every socket this
  // Driver's connections hold, so a libcurl call blocked on one of them
  // (see SmtpLane) returns at once. The fds stay curl's to close. Transfers
  // that fail from it are reported as cancelled.
  void interrupt() {
    ++interrupts_;
    const std::lock_guard lock(sockets_mutex_);
    for (const curl_socket_t fd : sockets_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* user, void*) {
    auto* driver = static_cast<Driver*>(user);
    driver->note_socket(easy, fd, what);
    driver->watch(fd, what);
    return 0;
  }

  // Which socket a transfer of ours is on (curl also calls with its own
  // internal handles, which are not in transfers_).
  void note_socket(CURL* easy, curl_socket_t fd, int what) {
    const auto it = transfers_.find(easy);
    if (it == transfers_.end()) return;
    Transfer& transfer = *it->second;
    if (what != CURL_POLL_REMOVE) {
      transfer.socket = fd;
    } else if (transfer.socket == fd) {
      transfer.socket = CURL_SOCKET_BAD;
    }
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    static_cast<Driver*>(user)->arm_timer(timeout_ms);
    return 0;
  }

  static int on_close_socket(void* user, curl_socket_t fd) {
    auto* driver = static_cast<Driver*>(user);
    // curl normally says CURL_POLL_REMOVE first; if it did not, Asio must
    // still let go of the fd before it is closed and its number reused.
    if (auto it = driver->watches_.find(fd); it != driver->watches_.end()) {
      driver->forget(*it->second);
      driver->watches_.erase(it);
    }
    for (auto& [easy, transfer] : driver->transfers_) {
      if (transfer->socket == fd) transfer->socket = CURL_SOCKET_BAD;
    }
    // Closed under the lock, so interrupt() never touches a number that
    // was closed and handed out again.
    const std::lock_guard lock(driver->sockets_mutex_);
    driver->sockets_.erase(fd);
    return ::close(fd);
  }

  void watch(curl_socket_t fd, int what) {
    auto it = watches_.find(fd);
    if (what == CURL_POLL_REMOVE) {
      if (it != watches_.end()) {
        forget(*it->second);
        watches_.erase(it);
      }
      return;
    }
    if (it == watches_.end()) {
      it = watches_.emplace(fd, std::make_shared<Watch>(io_, fd)).first;
      const std::lock_guard lock(sockets_mutex_);
      sockets_.insert(fd);
    }
    const std::shared_ptr<Watch> w = it->second;
    const bool wanted_read_before = w->wanted & CURL_POLL_IN;
    w->wanted = what;
    if ((what & CURL_POLL_IN) && !w->reading) {
      // Asio's epoll is edge-triggered and its async_wait never checks
      // readiness up front: bytes that arrived while nobody was waiting for
      // read raise no new edge. Look once, so a reply that came in during a
      // write phase is not missed.
      if (!wanted_read_before && readable_now(fd)) {
        w->reading = true;
        asio::post(io_, [this, w, alive = std::weak_ptr<int>(alive_)] {
          w->reading = false;
          if (alive.expired() || w->gone) return;
          on_ready(w, CURL_CSELECT_IN);
        });
      } else {
        arm(w, CURL_POLL_IN);
      }
    }
    if ((what & CURL_POLL_OUT) && !w->writing) arm(w, CURL_POLL_OUT);
  }

  static bool readable_now(curl_socket_t fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  void arm(const std::shared_ptr<Watch>& w, int direction) {
    const bool read = direction == CURL_POLL_IN;
    (read ? w->reading : w->writing) = true;
    w->descriptor.async_wait(
        read ? asio::posix::stream_descriptor::wait_read
             : asio::posix::stream_descriptor::wait_write,
        [this, w, read, alive = std::weak_ptr<int>(alive_)](const error_code& ec) {
          (read ? w->reading : w->writing) = false;
          if (ec || alive.expired() || w->gone) return;
          on_ready(w, read ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
        });
  }

  void on_ready(const std::shared_ptr<Watch>& w, int event) {
    int running = 0;
    curl_multi_socket_action(multi_, w->fd, event, &running);
    collect_done();
    // curl may have removed or replaced the socket while we were inside it.
    if (w->gone) return;
    const int direction = event == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
    const bool armed = direction == CURL_POLL_IN ? w->reading : w->writing;
    if ((w->wanted & direction) && !armed) arm(w, direction);
  }

  void forget(Watch& w) {
    w.gone = true;
    error_code ignored;
    w.descriptor.cancel(ignored);
    // release(), not close(): the fd is curl's to close.
    w.descriptor.release();
  }

  void arm_timer(long timeout_ms) {
    if (timeout_ms < 0) {
      timer_.cancel();
      return;
    }
    // Even a 0 ms timeout goes through the loop: curl forbids calling
    // curl_multi_socket_action from inside its own callback. It is posted,
    // not timed: curl asks for one with every new transfer, and re-arming
    // the timer costs a timerfd_settime system call each time (a fifth of
    // tackd's CPU at full speed). One posted run serves every request for
    // it made before it runs.
    if (timeout_ms == 0) {
      timer_.cancel();
      if (timeout_posted_) return;
      timeout_posted_ = true;
      asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
        if (alive.expired()) return;
        timeout_posted_ = false;
        int running = 0;
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
        collect_done();
      });
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(timeout_ms));
    timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const error_code& ec) {
      if (ec || alive.expired()) return;
      int running = 0;
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      collect_done();
    });
  }

  void collect_done() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;  // msg is invalid after remove_handle
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      transfers_.erase(it);
      collect(*transfer, code);
      if (code != CURLE_OK && transfer->interrupts_at_start != interrupts_) {
        transfer->result.curl_error = "transfer cancelled (" + transfer->result.curl_error + ")";
      }
      if (transfer->smtp && code != CURLE_OK) end_smtp_session(easy);
      curl_multi_remove_handle(multi_, easy);
      complete(std::move(transfer));
    }
  }

  // After a failed SMTP transfer libcurl may keep the connection as
  // reusable although the session is in an unknown state (a timeout while
  // waiting for the end-of-DATA reply leaves it "intact": the next MAIL FROM
  // would read the old reply). It would also say QUIT on it later and wait,
  // blocking, for an answer. Shutting the TCP session down (the fd stays
  // curl's to close) makes libcurl see a dead connection: never reused, no
  // QUIT.
  static void end_smtp_session(CURL* easy) {
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd != CURL_SOCKET_BAD) {
      ::shutdown(fd, SHUT_RDWR);
    }
  }

  // Fills the result from the handle; called before the handle leaves the
  // multi handle.
  static void collect(Transfer& t, CURLcode code) {
    TransferResult& r = t.result;
    r.curl_code = static_cast<int>(code);
    if (code != CURLE_OK) r.curl_error = t.error[0] ? t.error : curl_easy_strerror(code);
    if (!t.easy) return;
    long os_errno = 0;
    if (code != CURLE_OK && code != CURLE_ABORTED_BY_CALLBACK &&
        curl_easy_getinfo(t.easy.get(), CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
        os_errno != 0) {
      // libcurl 7.88 says "Couldn't connect to server" for refused,
      // unreachable and the like alike; the system's word tells them apart.
      const std::string reason = std::strerror(static_cast<int>(os_errno));
      if (r.curl_error.find(reason) == std::string::npos) r.curl_error += " (" + reason + ")";
    }
    long status = 0;
    curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
    r.status = status;
    if (t.smtp) {
      // Whether the server may act on it: only once the message itself
      // started to flow (after 354). A failure before that is a clean retry.
      r.request_sent = t.upload_started;
      if (code != CURLE_OK) {
        // The reply that carries the status; after a failure libcurl may
        // still have said QUIT and heard "221 Bye".
        const std::string prefix = std::to_string(status);
        for (auto it = t.smtp_replies.rbegin(); it != t.smtp_replies.rend(); ++it) {
          if (status > 0 && it->rfind(prefix, 0) == 0) {
            r.curl_error += " (server: " + *it + ")";
            break;
          }
        }
      }
      for (const auto& reply : t.smtp_replies) {
        if (r.body.size() + reply.size() + 1 > t.max_body) break;
        r.body += reply;
        r.body += '\n';
      }
    } else {
      // libcurl counts request bytes as they are written to the connection
      // (retries on a fresh connection included), so 0 means the server saw
      // nothing of this request.
      long request_size = 0;
      curl_easy_getinfo(t.easy.get(), CURLINFO_REQUEST_SIZE, &request_size);
      r.request_sent = request_size > 0;
      r.requests = r.request_sent ? t.requests : 0;
    }
  }

  void finish(std::unique_ptr<Transfer> transfer, CURLcode code) {
    collect(*transfer, code);
    complete(std::move(transfer));
  }

  static void complete(std::unique_ptr<Transfer> transfer) {
    transfer->result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - transfer->started);
    std::unique_ptr<Completion> completion = std::move(transfer->completion);
    TransferResult result = std::move(transfer->result);
    std::atomic<std::size_t>* lane_in_flight = transfer->lane_in_flight;
    transfer.reset();  // curl_easy_cleanup before the awaiter runs
    if (lane_in_flight) --*lane_in_flight;
    if (completion) completion->complete(std::move(result));
  }

  asio::io_context& io_;
  asio::steady_timer timer_;
  bool timeout_posted_ = false;  // a 0 ms timeout's socket_action is queued on io_
  CURLM* multi_ = nullptr;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::map<curl_socket_t, std::shared_ptr<Watch>> watches_;
  // Handlers still queued in the loop after this Driver is gone check it.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  // Every socket curl opened for us and has not closed yet (watched or
  // idle in its connection cache); read by interrupt() from any thread.
  std::mutex sockets_mutex_;
  std::set<curl_socket_t> sockets_;
  std::atomic<unsigned> interrupts_{0};
};

// A thread with its own io_context and Driver, for SMTP. libcurl (7.88, and
// it says so in smtp.c) waits for the reply to the end of DATA with a
// blocking poll inside smtp_done, and for the reply to QUIT when it drops a
// connection: seconds with a server that scans mail before it answers, up
// to the timeout with one that hangs. On the daemon's loop that would stall
// every other transfer, timer and the watchdog; on a lane it stalls only
// that lane's SMTP transfers.
class SmtpLane {
 public:
  SmtpLane()
      : thread_([this] {
          pthread_setname_np(pthread_self(), "tack-smtp");
          io_.run();
        }) {}

  ~SmtpLane() {
    // Wakes the lane if libcurl is blocked waiting for a server; then the
    // Driver is destroyed on its own thread (it cancels what is in flight),
    // after every start() posted before.
    driver_->interrupt();
    asio::post(io_, [this] {
      driver_.reset();
      io_.stop();
    });
    thread_.join();
  }

  SmtpLane(const SmtpLane&) = delete;
  SmtpLane& operator=(const SmtpLane&) = delete;

  void start(std::unique_ptr<Transfer> transfer) {
    ++in_flight_;
    transfer->lane_in_flight = &in_flight_;
    asio::post(io_, [this, transfer = std::move(transfer)]() mutable {
      driver_->start(std::move(transfer));
    });
  }

  void cancel_all(const std::string& why) {
    // The lane may be blocked inside libcurl; a dead connection wakes it,
    // and then the posted cancel finds what is left.
    driver_->interrupt();
    asio::post(io_, [this, why] { driver_->cancel_all(why); });
  }

  std::size_t in_flight() const { return in_flight_.load(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<Driver> driver_ = std::make_unique<Driver>(io_);
  std::atomic<std::size_t> in_flight_{0};
  std::thread thread_;  // last: it runs io_ and uses everything above
};

constexpr std::size_t kSmtpLanes = 4;

}  // namespace

struct CurlMulti::Impl {
  explicit Impl(asio::io_context& io) : io(io), driver(io) {}

  // Lanes start on first use: a daemon without SMTP runs no extra threads.
  SmtpLane& smtp_lane() {
    if (lanes.empty()) {
      for (std::size_t i = 0; i < kSmtpLanes; ++i) lanes.push_back(std::make_unique<SmtpLane>());
    }
    return **std::min_element(lanes.begin(), lanes.end(), [](const auto& a, const auto& b) {
      return a->in_flight() < b->in_flight();
    });
  }

  template <typename Handler>
  void attach(Transfer& transfer, Handler handler) {
    transfer.completion =
        std::make_unique<CompletionFor<Handler>>(std::move(handler), io.get_executor());
  }

  asio::io_context& io;
  std::atomic<std::size_t> max_response_bytes{kDefaultMaxBodyBytes};
  Driver driver;
  // Declared after driver, so destroyed (joined) first.
  std::vector<std::unique_ptr<SmtpLane>> lanes;
};

CurlMulti::CurlMulti(asio::io_context& io) : impl_(std::make_unique<Impl>(io)) {}

CurlMulti::~CurlMulti() = default;

asio::awaitable<TransferResult> CurlMulti::perform(HttpRequest request) {
  std::unique_ptr<Transfer> transfer = make_transfer(request);
  transfer->max_body = impl_->max_response_bytes.load();
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(TransferResult)>(
      [&](auto handler) {
        impl_->attach(*transfer, std::move(handler));
        impl_->driver.start(std::move(transfer));
      },
      asio::use_awaitable);
}

asio::awaitable<TransferResult> CurlMulti::perform(SmtpRequest request) {
  // Built here, run on a lane: an easy handle may change threads, as long
  // as one thread at a time uses it.
  std::unique_ptr<Transfer> transfer = make_transfer(request);
  transfer->max_body = impl_->max_response_bytes.load();
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(TransferResult)>(
      [&](auto handler) {
        impl_->attach(*transfer, std::move(handler));
        impl_->smtp_lane().start(std::move(transfer));
      },
      asio::use_awaitable);
}

void CurlMulti::set_max_response_bytes(std::size_t bytes) {
  impl_->max_response_bytes = bytes;
}

void CurlMulti::cancel_all() {
  impl_->driver.cancel_all("transfer cancelled");
  for (auto& lane : impl_->lanes) lane->cancel_all("transfer cancelled");
}

void CurlMulti::keep_connections(std::size_t count) { impl_->driver.keep_connections(count); }

std::size_t CurlMulti::in_flight() const {
  std::size_t count = impl_->driver.in_flight();
  for (const auto& lane : impl_->lanes) count += lane->in_flight();
  return count;
}

}  // namespace tack
