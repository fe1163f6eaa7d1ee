// app: the daemon (`tackd run`). Wires config, store, intake, dispatcher,
// gateways and sources onto one Asio event loop, and owns the process's
// lifecycle: systemd readiness, SIGHUP reload (a bad new config is
// reported and the running one kept), SIGTERM/SIGINT drain (stop taking
// events, let in-flight sends finish or hand them back, commit, exit 0).
#pragma once

#include <string>

namespace tack {

// sysexits codes tack uses.
enum ExitCode {
  kExitOk = 0,
  kExitUsage = 64,
  kExitDataErr = 65,
  kExitNoInput = 66,
  kExitUnavailable = 69,
  kExitSoftware = 70,
  kExitCantCreate = 73,
  kExitIoErr = 74,
  kExitTempFail = 75,  // try again later
  kExitConfig = 78,
};

int run_daemon(const std::string& config_path);

}  // namespace tack
