-- The maintenance schedule of each host (issue 16): the state its last report gave (next
-- window, next deadline, reboot state, refused policy, explanation lines as a JSON list)
-- and its decisions, the newest 200 per host (an event already stored, same time, kind
-- and text, is not stored again).

CREATE TABLE host_schedule (
	host_pk           INTEGER PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
	reported_at       INTEGER NOT NULL,
	next_window_start INTEGER,
	next_window_end   INTEGER,
	next_deadline     INTEGER,
	past_deadline     INTEGER NOT NULL DEFAULT 0,
	reboot            TEXT NOT NULL DEFAULT '' CHECK (reboot IN ('', 'needed', 'wait', 'ask', 'countdown')),
	reboot_at         INTEGER,
	reboot_since      INTEGER,
	postponed         INTEGER NOT NULL DEFAULT 0,
	policy_error      TEXT NOT NULL DEFAULT '',
	lines             TEXT NOT NULL DEFAULT '[]'
) STRICT;
CREATE INDEX host_schedule_past_deadline ON host_schedule (host_pk) WHERE past_deadline > 0;

CREATE TABLE host_schedule_events (
	id      INTEGER PRIMARY KEY,
	host_pk INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	text    TEXT NOT NULL DEFAULT '',
	UNIQUE (host_pk, at, kind, text)
) STRICT;
