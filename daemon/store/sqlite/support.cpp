// Support reads: searches, an order's timeline, exports. Run on a reader
// connection (or inside a unit, when a write needs them).
#include <algorithm>

#include "store/sqlite/ops.hpp"

namespace tack::sqlite {

namespace {
// " AND (recipient = ?n COLLATE NOCASE OR …)": each term can use the
// messages_recipient index.
std::string recipients_condition(const std::vector<std::string>& recipients, int& index) {
  if (recipients.empty()) return {};
  std::string sql = " AND (";
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (i > 0) sql += " OR ";
    sql += "recipient = ?" + std::to_string(++index) + " COLLATE NOCASE";
  }
  return sql + ")";
}
}  // namespace

std::vector<MessageView> find_messages(Db& db, const MessageQuery& q) {
  std::string sql = std::string("SELECT ") + kMessageColumns + " FROM messages WHERE 1=1";
  int index = 0;
  if (q.order_id) sql += " AND order_id = ?" + std::to_string(++index);
  sql += recipients_condition(q.recipients, index);
  if (q.message_id) sql += " AND id = ?" + std::to_string(++index);
  // The newest `limit` messages, shown oldest first: support asks about the
  // latest contact far more often than the first.
  sql = "SELECT * FROM (" + sql + " ORDER BY id DESC LIMIT ?" + std::to_string(++index) +
        ") ORDER BY id";
  auto s = db.prepare(sql);
  index = 0;
  if (q.order_id) s.bind(++index, *q.order_id);
  for (const auto& r : q.recipients) s.bind(++index, r);
  if (q.message_id) s.bind(++index, *q.message_id);
  s.bind(++index, q.limit);
  std::vector<MessageView> out;
  while (s.step()) out.push_back(read_message_row(s));
  load_attempt_logs(db, out);
  return out;
}

std::vector<EventView> find_events(Db& db, const std::string& order_id) {
  auto s = db.prepare(std::string("SELECT ") + kEventColumns +
                      " FROM events WHERE order_id = ?1 ORDER BY id");
  s.bind(1, order_id);
  return read_events(s);
}

std::vector<EventView> rejected_events(Db& db, int limit) {
  auto s = db.prepare(std::string("SELECT ") + kEventColumns +
                      " FROM events WHERE verdict = 'rejected' ORDER BY received_at DESC, id DESC "
                      "LIMIT ?1");
  s.bind(1, limit);
  return read_events(s);
}

void for_each_message(Db& db, std::int64_t since_ms, std::int64_t until_ms,
                      const std::function<void(const MessageView&)>& each) {
  auto s = db.prepare(std::string("SELECT ") + kMessageColumns +
                      " FROM messages WHERE created_at >= ?1 AND created_at < ?2 "
                      "ORDER BY created_at, id");
  s.bind(1, since_ms).bind(2, until_ms);
  std::vector<MessageView> one(1);
  while (s.step()) {
    one[0] = read_message_row(s);
    load_attempt_logs(db, one);
    each(one[0]);
  }
}

namespace {

// An order's messages are few; this bounds a pathological one.

}  // namespace

MessagePage search_messages(Db& db, const MessageSearch& q) {
  std::string sql = std::string("SELECT ") + kMessageColumns + " FROM messages WHERE 1=1";
  int index = 0;
  auto add = [&](const char* condition) {
    sql += std::string(" AND ") + condition + std::to_string(++index);
  };
  if (q.order_id) add("order_id = ?");
  sql += recipients_condition(q.recipients, index);
  if (q.state) add("state = ?");
  if (q.since_ms) add("created_at >= ?");
  if (q.until_ms) add("created_at < ?");
  if (q.before_id) add("id < ?");
  // One more than asked tells whether another page follows.
  sql += " ORDER BY id DESC LIMIT ?" + std::to_string(++index);
  auto s = db.prepare(sql);
  index = 0;
  if (q.order_id) s.bind(++index, *q.order_id);
  for (const auto& r : q.recipients) s.bind(++index, r);
  if (q.state) s.bind(++index, to_string(*q.state));
  if (q.since_ms) s.bind(++index, *q.since_ms);
  if (q.until_ms) s.bind(++index, *q.until_ms);
  if (q.before_id) s.bind(++index, *q.before_id);
  const int limit = std::max(1, q.limit);
  s.bind(++index, limit + 1);
  MessagePage page;
  while (s.step()) page.messages.push_back(read_message_row(s));
  if (page.messages.size() > static_cast<std::size_t>(limit)) {
    page.messages.resize(static_cast<std::size_t>(limit));
    page.more = true;
  }
  load_attempt_logs(db, page.messages);
  return page;
}

std::optional<OrderTimeline> order_timeline(Db& db, const std::string& order_id) {
  OrderTimeline t;
  t.order_id = order_id;
  // The newest events, shown oldest first; the count of the rest.
  auto events = db.prepare(std::string("SELECT ") + kEventColumns + " FROM (SELECT id, " +
                           kEventColumns +
                           " FROM events WHERE order_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id");
  events.bind(1, order_id).bind(2, kTimelineEvents + 1);
  t.events = read_events(events);
  if (t.events.size() > static_cast<std::size_t>(kTimelineEvents)) {
    t.events.erase(t.events.begin());  // one past the limit: there are older ones
    auto count = db.prepare("SELECT COUNT(*) FROM events WHERE order_id = ?1");
    count.bind(1, order_id);
    if (count.step()) t.events_omitted = count.int64(0) - kTimelineEvents;
  }
  auto messages = db.prepare(std::string("SELECT ") + kMessageColumns +
                             " FROM messages WHERE order_id = ?1 ORDER BY id LIMIT ?2");
  messages.bind(1, order_id).bind(2, kTimelineMessages);
  while (messages.step()) t.messages.push_back(read_message_row(messages));
  if (t.events.empty() && t.messages.empty()) return std::nullopt;
  load_attempt_logs(db, t.messages);

  auto status = db.prepare("SELECT last_status FROM orders WHERE order_id = ?1");
  status.bind(1, order_id);
  if (status.step()) t.status = status.text(0);

  // The newest kTimelineAudit actions, oldest first, and how many older.
  auto audit = db.prepare(
      "SELECT at, actor, action, target, detail FROM (SELECT id, at, actor, action, target, "
      "detail FROM audit WHERE target IN (SELECT 'message ' || id FROM messages WHERE order_id "
      "= ?1) OR target = 'order ' || ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id");
  audit.bind(1, order_id).bind(2, kTimelineAudit + 1);
  while (audit.step()) {
    t.audit.push_back({audit.int64(0), audit.text(1), audit.text(2), audit.text(3), audit.text(4)});
  }
  if (t.audit.size() > static_cast<std::size_t>(kTimelineAudit)) {
    t.audit.erase(t.audit.begin());
    auto count = db.prepare(
        "SELECT count(*) FROM audit WHERE target IN (SELECT 'message ' || id FROM messages "
        "WHERE order_id = ?1) OR target = 'order ' || ?1");
    count.bind(1, order_id);
    if (count.step()) t.audit_omitted = count.int64(0) - kTimelineAudit;
  }

  static const std::string next_sql =
      "SELECT id, next_attempt_at FROM messages WHERE order_id = ?1 AND state IN " +
      sql_state_list(is_waiting) + " ORDER BY next_attempt_at, id LIMIT 1";
  auto next = db.prepare(next_sql);
  next.bind(1, order_id);
  if (next.step()) t.next_contact = std::make_pair(next.int64(0), next.int64(1));
  t.corrected_contact = order_contact(db, order_id);
  return t;
}

}  // namespace tack::sqlite
