// sink: the benchmark's receiving end, a stand-in for an SMS provider's API.
//
// An HTTP/1.1 keep-alive server on 127.0.0.1 (Boost.Beast, one thread) that
// answers every POST with 200 and a small JSON body carrying a provider id,
// optionally after a fixed delay (the slow-gateway case). For each request
// it records the Idempotency-Key header and the wall-clock time it arrived,
// so the harness can check that every event arrived exactly once and compute
// commit-to-receipt latency. It must not be the bottleneck: the harness
// measures its ceiling with the curl loop and reports it.
//
//   tack_bench_sink [--port P] [--delay-ms D]
// prints "listening PORT" on its first line, then serves until killed.
//   GET  /stats  -> {"requests":N,"distinct_keys":K,"first_ns":..,"last_ns":..,"max_in_flight":M}
//   GET  /dump   -> one "KEY EVENT NS" line per request, in arrival order
//                   (EVENT: the X-Event-Id header, or "-")
//   POST /reset  -> forgets everything recorded
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

struct Receipt {
  std::string key;
  std::string event;  // X-Event-Id, when the sender gives one
  std::int64_t at_ns;
};

struct Recorder {
  std::vector<Receipt> receipts;
  std::unordered_set<std::string> keys;
  int in_flight = 0;
  int max_in_flight = 0;

  std::string stats() const {
    std::int64_t first = receipts.empty() ? 0 : receipts.front().at_ns;
    std::int64_t last = receipts.empty() ? 0 : receipts.back().at_ns;
    return "{\"requests\":" + std::to_string(receipts.size()) +
           ",\"distinct_keys\":" + std::to_string(keys.size()) +
           ",\"first_ns\":" + std::to_string(first) + ",\"last_ns\":" + std::to_string(last) +
           ",\"max_in_flight\":" + std::to_string(max_in_flight) + "}";
  }
  std::string dump() const {
    std::string out;
    out.reserve(receipts.size() * 40);
    for (const auto& r : receipts) {
      out += r.key;
      out += ' ';
      out += r.event.empty() ? "-" : r.event;
      out += ' ';
      out += std::to_string(r.at_ns);
      out += '\n';
    }
    return out;
  }
};

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Recorder& recorder, std::chrono::milliseconds delay)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), recorder_(recorder),
        delay_(delay) {}

  void start() { read(); }

 private:
  void read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->handle();
                     });
  }

  void handle() {
    auto& rec = recorder_;
    response_ = {};
    response_.version(request_.version());
    response_.keep_alive(request_.keep_alive());
    response_.set(http::field::content_type, "application/json");
    std::string target(request_.target());
    if (request_.method() == http::verb::get && target == "/stats") {
      response_.result(http::status::ok);
      response_.body() = rec.stats();
      return write();
    }
    if (request_.method() == http::verb::get && target == "/dump") {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain");
      response_.body() = rec.dump();
      return write();
    }
    if (request_.method() == http::verb::post && target == "/reset") {
      rec = Recorder{};
      response_.result(http::status::ok);
      response_.body() = "{}";
      return write();
    }
    std::string key(request_["Idempotency-Key"]);
    rec.receipts.push_back({key, std::string(request_["X-Event-Id"]), wall_ns()});
    rec.keys.insert(key);
    response_.result(http::status::ok);
    response_.body() = "{\"id\":\"sink-" + std::to_string(rec.receipts.size()) + "\"}";
    if (delay_.count() == 0) return write();
    ++rec.in_flight;
    if (rec.in_flight > rec.max_in_flight) rec.max_in_flight = rec.in_flight;
    timer_.expires_after(delay_);
    timer_.async_wait([self = shared_from_this()](beast::error_code) {
      --self->recorder_.in_flight;
      self->write();
    });
  }

  void write() {
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        if (!self->response_.keep_alive()) {
                          beast::error_code ignored;
                          self->stream_.shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->read();
                      });
  }

  tcp::socket stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  Recorder& recorder_;
  std::chrono::milliseconds delay_;
};

void accept(tcp::acceptor& acceptor, Recorder& recorder, std::chrono::milliseconds delay) {
  acceptor.async_accept([&acceptor, &recorder, delay](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket), recorder, delay)->start();
    }
    accept(acceptor, recorder, delay);
  });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  std::chrono::milliseconds delay{0};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = static_cast<unsigned short>(std::atoi(argv[++i]));
    } else if (arg == "--delay-ms" && i + 1 < argc) {
      delay = std::chrono::milliseconds(std::atoi(argv[++i]));
    } else {
      std::cerr << "usage: tack_bench_sink [--port P] [--delay-ms D]\n";
      return 64;
    }
  }
  asio::io_context io(1);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  acceptor.listen(1024);
  Recorder recorder;
  accept(acceptor, recorder, delay);
  std::cout << "listening " << acceptor.local_endpoint().port() << std::endl;
  io.run();
}
