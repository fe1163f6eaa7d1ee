// Opt-out (issue 17): the suppression list, and what a new entry does to
// the messages still on their way to that address.
#include <ctime>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {

// The states a new opt-out stops: everything still waiting to go out. One
// being sent right now is with a gateway already and is left to it.
bool stopped_by_opt_out(MessageState state) {
  return is_pending(state) && state != MessageState::Sending;
}

std::string kind_text(ChannelKind kind) { return to_string(kind); }

std::string target_of(ChannelKind kind, const std::string& address) {
  return "optout " + kind_text(kind) + " " + address;
}

// "2026-12-05 10:02 UTC"
std::string utc_minute(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

std::string normalised_address(ChannelKind kind, const std::string& address) {
  if (kind == ChannelKind::Sms) return address;
  std::string lower = address;
  for (auto& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::optional<std::string> suppression_note(Db& db, ChannelKind kind,
                                            const std::string& address) {
  auto s = db.prepare("SELECT source, created_at FROM suppressions WHERE kind = ?1 AND address = ?2");
  s.bind(1, kind_text(kind)).bind(2, normalised_address(kind, address));
  if (!s.step()) return std::nullopt;
  return "suppressed: opted out of " + kind_text(kind) + " since " + utc_minute(s.int64(1)) +
         " (" + s.text(0) + ")";
}

SuppressResult suppress(Db& db, ChannelKind kind, const std::string& address,
                        const std::string& source, const std::string& actor,
                        std::int64_t now_ms) {
  SuppressResult result;
  const std::string normal = normalised_address(kind, address);
  db.prepare(
        "INSERT INTO suppressions (kind, address, source, actor, created_at) VALUES (?1, ?2, ?3, "
        "?4, ?5) ON CONFLICT(kind, address) DO NOTHING")
      .bind(1, kind_text(kind))
      .bind(2, normal)
      .bind(3, source)
      .bind(4, actor)
      .bind(5, now_ms)
      .run();
  result.added = db.changes() > 0;
  if (result.added) {
    audit(db, actor, "optout", target_of(kind, normal), "suppressed: " + source, now_ms);
  }
  const std::string note = *suppression_note(db, kind, normal);

  static const std::string pending_sql =
      "SELECT id, state FROM messages WHERE recipient = ?1 COLLATE NOCASE AND kind = ?2 AND "
      "ignore_opt_out = 0 AND erased_at IS NULL AND " + sql_state_is(stopped_by_opt_out) +
      " ORDER BY id";
  auto pending = db.prepare(pending_sql);
  pending.bind(1, normal).bind(2, kind_text(kind));
  std::vector<std::int64_t> ids;
  while (pending.step()) ids.push_back(pending.int64(0));
  auto mark = db.prepare(
      "UPDATE messages SET state = 'suppressed', updated_at = ?2, note = ?3, owner = NULL, "
      "lease_until = NULL WHERE id = ?1");
  for (auto id : ids) {
    mark.bind(1, id).bind(2, now_ms).bind(3, note).run();
    mark.reset();
    audit(db, actor, "optout", "message " + std::to_string(id), note, now_ms);
    // Its fallback on the other channel carries the news instead.
    settle_standby(db, id, MessageState::Suppressed, note, now_ms);
    result.suppressed.push_back(id);
  }
  return result;
}

bool unsuppress(Db& db, ChannelKind kind, const std::string& address, const std::string& actor,
                std::int64_t now_ms) {
  const std::string normal = normalised_address(kind, address);
  db.prepare("DELETE FROM suppressions WHERE kind = ?1 AND address = ?2")
      .bind(1, kind_text(kind))
      .bind(2, normal)
      .run();
  if (db.changes() == 0) return false;
  audit(db, actor, "optout", target_of(kind, normal), "removed from the suppression list by " + actor,
        now_ms);
  return true;
}

void suppress_message_recipient(Db& db, std::int64_t message_id, const std::string& source,
                                const std::string& actor, std::int64_t now_ms) {
  auto row = db.prepare("SELECT kind, recipient FROM messages WHERE id = ?1");
  row.bind(1, message_id);
  if (!row.step()) return;
  const ChannelKind kind = row.text(0) == "email" ? ChannelKind::Email : ChannelKind::Sms;
  const std::string recipient = row.text(1);
  if (recipient.empty() || recipient == kErased) return;
  suppress(db, kind, recipient, source, actor, now_ms);
}

std::vector<Suppression> suppressions(Db& db, const SuppressionFilter& filter) {
  auto s = db.prepare(
      "SELECT kind, address, source, actor, created_at FROM suppressions WHERE (?1 = '' OR kind = "
      "?1) AND (?2 = '' OR address = ?2 COLLATE NOCASE) ORDER BY created_at DESC, address LIMIT "
      "?3");
  s.bind(1, filter.kind ? kind_text(*filter.kind) : std::string());
  s.bind(2, filter.address);
  s.bind(3, filter.limit);
  std::vector<Suppression> out;
  while (s.step()) {
    Suppression entry;
    entry.kind = s.text(0) == "email" ? ChannelKind::Email : ChannelKind::Sms;
    entry.address = s.text(1);
    entry.source = s.text(2);
    entry.actor = s.text(3);
    entry.created_at_ms = s.int64(4);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace tack::sqlite
