// curl: the one owner of libcurl. Runs transfers on a libcurl multi handle
// driven by the Asio event loop (CURLMOPT_SOCKETFUNCTION and
// CURLMOPT_TIMERFUNCTION): sockets are watched by Asio, timeouts are Asio
// timers, and nothing ever blocks the loop in curl_easy_perform.
//
// Gateways describe a request as a plain value (HttpRequest, SmtpRequest)
// and co_await its result; they never see a CURL handle. One CurlMulti per
// io_context, used only from that io_context's thread. (SMTP transfers run
// on a few private threads, because libcurl waits for some SMTP replies
// with a blocking poll; their awaiters still resume on the caller's
// executor.)
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "asio.hpp"

namespace tack {

struct Timeouts {
  std::chrono::milliseconds connect{10000};
  std::chrono::milliseconds total{30000};
  // Abort when slower than low_speed_bytes per second for low_speed_time.
  long low_speed_bytes = 1;
  std::chrono::milliseconds low_speed_time{20000};
};

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string username;  // basic auth when not empty
  std::string password;
  std::string bearer_token;  // Authorization: Bearer when not empty
  Timeouts timeouts;
  bool verify_tls = true;
  std::string ca_file;  // extra CA bundle, optional
};

struct SmtpRequest {
  std::string url;  // smtp://host:port (STARTTLS when tls=starttls) or smtps://host:port
  enum class Tls { None, StartTls, Implicit } tls = Tls::StartTls;
  std::string username;
  std::string password;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::string message;  // the full RFC 5322 message, CRLF line ends
  Timeouts timeouts;
  bool verify_tls = true;
  std::string ca_file;
};

struct TransferResult {
  // CURLcode as an int and its text; 0 is success at the transport level.
  int curl_code = 0;
  std::string curl_error;
  long status = 0;  // HTTP status or the last SMTP reply code
  std::vector<std::pair<std::string, std::string>> headers;  // response headers, names lowercased
  // HTTP response body, or for SMTP the server's reply lines, one per line
  // (capped at 1 MiB).
  std::string body;
  bool request_sent = false;  // any byte of the request left this host
  // HTTP: how many times the request went out. libcurl sends it again on a
  // new connection, by itself and for any method, when a reused kept-alive
  // connection dies before any byte of an answer (lib/transfer.c
  // Curl_retry_request; 7.88 has no option to turn that off). Each request
  // but the last may have reached the server and been acted on: more than 1
  // means the server may have it that many times. 0 when none went out.
  int requests = 0;
  std::chrono::milliseconds duration{0};
  // Classification helpers for gateways.
  bool ok() const { return curl_code == 0; }
  bool connect_failed() const;  // DNS, refused, connect timeout: nothing was sent
  std::string header(const std::string& lowercase_name) const;  // "" if absent
};

class CurlMulti {
 public:
  explicit CurlMulti(asio::io_context& io);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  asio::awaitable<TransferResult> perform(HttpRequest request);
  asio::awaitable<TransferResult> perform(SmtpRequest request);

  // Keeps up to `count` idle HTTP connections open for reuse. curl's default
  // (4 x the transfers in flight at the moment) closes connections whenever
  // the load dips, and each new one costs a TCP (and TLS) handshake.
  void keep_connections(std::size_t count);
  // limits.max_response_bytes: how much of an answer's body (SMTP: its
  // replies) is kept and read; the rest is dropped. For transfers started
  // after the call.
  void set_max_response_bytes(std::size_t bytes);

  // Aborts every transfer in flight; their awaiters resume with an error.
  void cancel_all();
  std::size_t in_flight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tack
