// tackd: one executable, subcommands (CLI11). Each subcommand's work lives
// in app (run) or cli (the rest); this file only parses the command line.
#include <CLI/CLI.hpp>
#include <sys/stat.h>

#include <iostream>
#include <map>

#include "app.hpp"
#include "cli.hpp"
#include "csv.hpp"

int main(int argc, char** argv) {
  using namespace tack;
  // Every file tackd makes holds personal data or comes from it: the store
  // and its -wal and -shm, an outbox (run, emit, outbox init, the other
  // subcommands that open the store) and the file gateway's messages. They
  // are the owner's alone whatever umask tackd was started with, as under
  // the systemd unit's UMask=0077; SQLite has no mode of its own to pass.
  ::umask(077);
  CLI::App app{"tackd: order-status notifications by SMS and e-mail"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tackd ") + TACK_VERSION);
  std::string config = "/etc/tack/tack.yaml";
  auto add_config = [&config](CLI::App* cmd) {
    return cmd->add_option("-c,--config", config, "config file")->capture_default_str();
  };
  // The commands that only read or change the store or an outbox read only
  // their part of the config (cli.hpp: StoreTarget), and some take the
  // store alone.
  const std::string store_part_note =
      "Reads only the store, locale, retention and sources sections of the config: it needs no "
      "gateway secret (${ENV}, *_file, LoadCredential=) and a mistake elsewhere in the config "
      "does not stop it.";
  auto add_store_part = [&](CLI::App* cmd) {
    add_config(cmd);
    cmd->footer(store_part_note);
  };
  std::string store_path;
  auto add_store = [&](CLI::App* cmd) {
    auto* config_option = add_config(cmd);
    cmd->add_option("--store", store_path,
                    "the store (tack.db) alone, with no config read; phone numbers then in "
                    "international form")
        ->excludes(config_option);
    cmd->footer(store_part_note + " With --store it reads no config at all.");
  };

  auto* run = app.add_subcommand("run", "run the daemon");
  add_config(run);

  auto* check = app.add_subcommand(
      "check", "validate the config and render every template for every locale");
  add_config(check);
  bool strict = false;
  check->add_flag("--strict", strict, "warnings fail the check too (exit 78)");

  std::string template_name, locale, event_path, channel;
  auto* render = app.add_subcommand("render", "print what a template would send for an event");
  add_config(render);
  render->add_option("-t,--template", template_name, "template name")->required();
  render->add_option("-l,--locale", locale, "locale (default: the event's, then the config's)");
  render->add_option("-e,--event", event_path, "event JSON file, or - for stdin")->required();
  render->add_option("--channel", channel, "sms or email (default: both)")
      ->check(CLI::IsMember({"sms", "email"}));

  std::string input = "-", source;
  auto* emit = app.add_subcommand("emit", "append events (JSON, a JSON array or JSON lines) to "
                                          "the configured outbox");
  add_config(emit);
  emit->add_option("input", input, "file, or - for stdin")->capture_default_str();
  emit->add_option("--source", source, "which sqlite_outbox source (default: the first)");

  auto* outbox = app.add_subcommand("outbox", "manage the outbox table");
  outbox->require_subcommand(1);
  auto* outbox_init = outbox->add_subcommand("init", "create the outbox table if missing");
  add_store_part(outbox_init);
  outbox_init->add_option("--source", source, "which sqlite_outbox source (default: the first)");

  LogQuery query;
  std::string order, to;
  long long message_id = 0;
  auto* log = app.add_subcommand(
      "log", "the delivery log: every message for an order or recipient, with every attempt");
  add_store(log);
  auto* by_order = log->add_option("--order", order, "order id");
  auto* by_to = log->add_option("--to", to, "phone number or e-mail address");
  auto* by_message = log->add_option("--message", message_id, "message id");
  auto* rejected = log->add_flag("--rejected", query.rejected, "recently rejected events");
  auto* log_json = log->add_flag(
      "--json", query.json,
      "the HTTP API's JSON: its order object, message object or message list");
  log->add_flag("--oldest-first", query.oldest_first,
                "list the oldest message first (default: newest first, as the support page)")
      ->excludes(log_json);
  by_order->excludes(by_to)->excludes(by_message)->excludes(rejected);
  by_to->excludes(by_message)->excludes(rejected);
  by_message->excludes(rejected);

  // `tackd log export`: the log for support and audits, as CSV.
  ExportQuery export_query;
  std::string export_since, export_until;
  auto* log_export = log->add_subcommand(
      "export", "every message created in a time range, with its attempts, as CSV (or JSON lines)");
  add_store(log_export);
  auto* export_since_opt = log_export->add_option(
      "--since", export_since, "from (inclusive): 2026-11-01, 2026-11-01T00:00:00Z or 30d (ago)");
  auto* export_until_opt =
      log_export->add_option("--until", export_until, "until (exclusive); default: now");
  bool export_csv = false;
  auto* csv_flag = log_export->add_flag("--csv", export_csv, "CSV, one row per attempt (default)");
  auto* json_flag =
      log_export->add_flag("--json", export_query.json, "JSON lines, one message per line");
  csv_flag->excludes(json_flag);
  std::string export_delimiter;
  auto* delimiter_opt = log_export->add_option(
      "--delimiter", export_delimiter,
      "CSV cell separator: , (default), ; (Excel in Swedish or Polish), | or tab");
  auto* bom_flag = log_export->add_flag(
      "--bom", export_query.bom, "start with a UTF-8 byte order mark, so Excel reads å and ł");
  delimiter_opt->excludes(json_flag);
  bom_flag->excludes(json_flag);

  // `tackd forget`: one person's data, on their request.
  std::string forget_to;
  bool forget_dry_run = false;
  auto* forget = app.add_subcommand(
      "forget", "erase one person's data from the delivery log (cancels their pending messages)");
  add_store_part(forget);
  forget->add_option("--to", forget_to, "their phone number or e-mail address")->required();
  forget->add_flag("--dry-run", forget_dry_run, "say what would be erased, change nothing");

  // `tackd prune`: one retention pass now.
  bool prune_dry_run = false;
  auto* prune = app.add_subcommand(
      "prune", "anonymise or delete what the retention section says is too old, now");
  add_store_part(prune);
  prune->add_flag("--dry-run", prune_dry_run, "count what would be pruned, change nothing");

  // Operator verbs on one message or a whole gateway.
  OperatorCommand op;
  long long op_id = 0;
  std::string op_gateway, op_since;
  std::map<CLI::App*, CLI::Option*> op_ids, op_gateways;
  CLI::Option* op_since_opt = nullptr;
  CLI::Option* op_dead = nullptr;
  for (auto [verb, help] : std::vector<std::pair<std::string, std::string>>{
           {"retry", "send a failed, dead or waiting message again now (a fresh round of attempts)"},
           {"cancel", "cancel a message that has not been sent"},
           {"hold", "pause a message, or every send through a gateway"},
           {"release", "resume a held message or gateway"},
           {"send-now",
            "send a scheduled message (a follow-up, a watch) now instead of at its time"}}) {
    auto* cmd = app.add_subcommand(verb, help);
    add_store(cmd);
    op_ids[cmd] = cmd->add_option("message_id", op_id, "message id (see tackd log)");
    if (verb != "cancel" && verb != "send-now") {
      op_gateways[cmd] = cmd->add_option(
          "--gateway", op_gateway,
          verb == "retry" ? "with --dead or --failed: only this gateway's"
                          : "the gateway to hold or release");
    }
    if (verb == "retry") {
      op_dead = cmd->add_flag("--dead", op.dead, "every dead message");
      auto* op_failed = cmd->add_flag(
          "--failed", op.failed,
          "every message failed by a gateway's answer (not those refused at intake, like an "
          "invalid number)");
      op_since_opt = cmd->add_option("--since", op_since,
                                     "with --dead or --failed: died or failed within, e.g. 24h");
      op_dead->excludes(op_ids[cmd]);
      op_failed->excludes(op_ids[cmd]);
      op_failed->excludes(op_dead);
      // --since and --gateway need --dead or --failed: checked in cli_operator.
    } else if (verb != "cancel" && verb != "send-now") {
      op_ids[cmd]->excludes(op_gateways[cmd]);
    }
  }

  // Support actions (issue 15), as the HTTP API's.
  long long resend_id = 0;
  std::string resend_reason, note_order, note_text;
  auto* resend = app.add_subcommand(
      "resend", "send a sent message again, as a new message with a new idempotency key");
  add_store(resend);
  resend->add_option("message_id", resend_id, "message id (see tackd log)")->required();
  resend->add_option("--reason", resend_reason, "why, kept in the audit")->required();
  auto* note = app.add_subcommand("note", "note something on an order (kept in its audit)");
  add_store(note);
  note->add_option("order_id", note_order, "the order")->required();
  note->add_option("text", note_text, "the note")->required();

  // Opt-out (issue 17): the suppression list.
  OptOutCommand optout_command;
  auto* optout = app.add_subcommand("optout", "the opt-out (suppression) list: add, remove, list");
  optout->require_subcommand(1);
  auto* optout_add = optout->add_subcommand(
      "add", "an address gets no more SMS (a phone number) or e-mail (an address)");
  add_store(optout_add);
  optout_add->add_option("address", optout_command.address, "phone number or e-mail address")
      ->required();
  optout_add->add_option("--reason", optout_command.reason, "why, kept with the entry");
  auto* optout_remove =
      optout->add_subcommand("remove", "take an address off the list: it may get messages again");
  add_store(optout_remove);
  optout_remove->add_option("address", optout_command.address, "phone number or e-mail address")
      ->required();
  auto* optout_list = optout->add_subcommand("list", "the list, newest first");
  add_store(optout_list);
  optout_list->add_option("address", optout_command.address, "only this address");
  std::string optout_kind;
  auto* optout_kind_option =
      optout_list->add_option("--kind", optout_kind, "only sms or only email");
  optout_list->add_flag("--json", optout_command.json, "one JSON object per line");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (*run) return run_daemon(config);
  if (*check) return cli_check(config, strict);
  if (*render) return cli_render(config, template_name, locale, event_path, channel);
  if (*emit) return cli_emit(config, input, source);
  if (*outbox_init) return cli_outbox_init(config, source);
  for (auto& [cmd, id_option] : op_ids) {
    if (!*cmd) continue;
    op.verb = cmd->get_name();
    if (*id_option) op.message_id = op_id;
    auto gateway_option = op_gateways.find(cmd);
    if (gateway_option != op_gateways.end() && *gateway_option->second) op.gateway = op_gateway;
    if (op_since_opt && *op_since_opt) op.since = op_since;
    return cli_operator({config, store_path}, op);
  }
  if (*resend) return cli_resend({config, store_path}, resend_id, resend_reason);
  if (*note) return cli_note({config, store_path}, note_order, note_text);
  if (*optout) {
    optout_command.action = *optout_add ? "add" : *optout_remove ? "remove" : "list";
    if (*optout_kind_option) optout_command.kind = optout_kind;
    return cli_optout({config, store_path}, optout_command);
  }
  if (*forget) return cli_forget(config, forget_to, forget_dry_run);
  if (*prune) return cli_prune(config, prune_dry_run);
  if (*log_export) {
    if (*export_since_opt) export_query.since = export_since;
    if (*export_until_opt) export_query.until = export_until;
    if (*delimiter_opt) {
      auto delimiter = parse_csv_delimiter(export_delimiter);
      if (!delimiter) {
        std::cerr << "tackd log export: --delimiter takes , ; | or tab (a quote, a line break, "
                     "a letter or a digit cannot separate cells)\n";
        return kExitUsage;
      }
      export_query.delimiter = *delimiter;
    }
    return cli_log_export({config, store_path}, export_query);
  }
  if (*log) {
    if (!*by_order && !*by_to && !*by_message && !query.rejected) {
      std::cerr << "tackd log: give --order, --to, --message or --rejected\n";
      return kExitUsage;
    }
    if (*by_order) query.order_id = order;
    if (*by_to) query.to = to;
    if (*by_message) query.message_id = message_id;
    return cli_log({config, store_path}, query);
  }
  return kExitUsage;
}
