// curl_loop: the physical limit for tack's sending work on this machine.
//
// Posts N SMS-shaped JSON bodies (the same shape and size tack renders from
// bench/templates/bench_sms.yaml) to the sink with libcurl's multi interface,
// keep-alive, at most --in-flight transfers at a time: no store, no queue, no
// retry. What tack adds on top of this is its price for durability and
// bookkeeping; the harness reports tack as a fraction of this rate.
//
//   tack_bench_curl_loop --url URL --count N [--in-flight K]
// prints one JSON line: {"count":N,"ok":N,"seconds":S,"per_second":R}
#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

struct Transfer {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
};

// The body tack's bench template renders for event i (same fields, same length).
std::string body_for(long i) {
  std::string order = std::to_string(100000 + i);
  std::string phone = "+4670" + std::to_string(1000000 + i % 9000000);
  return "{\"from\":\"Exempel\",\"to\":\"" + phone +
         "\",\"message\":\"Hej Anna! Din order " + order +
         " har skickats med PostNord och kommer i morgon mellan 12 och 14. Spara: "
         "https://tracking.example/" +
         order + "\"}";
}

void prepare(Transfer& t, const std::string& url, long i) {
  curl_easy_reset(t.easy);
  if (t.headers) curl_slist_free_all(t.headers);
  t.headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string key = "Idempotency-Key: loop-" + std::to_string(i);
  t.headers = curl_slist_append(t.headers, key.c_str());
  t.body = body_for(i);
  curl_easy_setopt(t.easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, t.headers);
  curl_easy_setopt(t.easy, CURLOPT_POSTFIELDS, t.body.c_str());
  curl_easy_setopt(t.easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(t.body.size()));
  curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  long count = 0;
  long in_flight = 24;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--url" && i + 1 < argc) {
      url = argv[++i];
    } else if (arg == "--count" && i + 1 < argc) {
      count = std::atol(argv[++i]);
    } else if (arg == "--in-flight" && i + 1 < argc) {
      in_flight = std::atol(argv[++i]);
    } else {
      std::cerr << "usage: tack_bench_curl_loop --url URL --count N [--in-flight K]\n";
      return 64;
    }
  }
  if (url.empty() || count <= 0 || in_flight <= 0) {
    std::cerr << "tack_bench_curl_loop: --url and a positive --count are required\n";
    return 64;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, in_flight);
  std::vector<Transfer> pool(static_cast<std::size_t>(in_flight));
  long next = 0, ok = 0, done = 0;
  auto start = std::chrono::steady_clock::now();
  for (auto& t : pool) {
    t.easy = curl_easy_init();
    if (next < count) {
      prepare(t, url, next++);
      curl_multi_add_handle(multi, t.easy);
    }
  }
  while (done < count) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result == CURLE_OK && status == 200) ++ok;
      ++done;
      curl_multi_remove_handle(multi, t->easy);
      if (next < count) {
        prepare(*t, url, next++);
        curl_multi_add_handle(multi, t->easy);
      }
    }
    if (done < count) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& t : pool) {
    curl_easy_cleanup(t.easy);
    curl_slist_free_all(t.headers);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  std::printf("{\"count\":%ld,\"ok\":%ld,\"seconds\":%.4f,\"per_second\":%.1f}\n", count, ok,
              seconds, count / seconds);
  return ok == count ? 0 : 1;
}
