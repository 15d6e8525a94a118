-- The maintenance schedule of each host (issue 16): the state its last report gave (next
-- window, next deadline, reboot state, refused policy, explanation lines as a JSON list)
-- and its decisions, the newest 200 per host (an event already stored, same time, kind
-- and text, is not stored again).

CREATE TABLE host_schedule (
	host_pk           bigint PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
	reported_at       timestamptz NOT NULL,
	next_window_start timestamptz,
	next_window_end   timestamptz,
	next_deadline     timestamptz,
	past_deadline     integer NOT NULL DEFAULT 0,
	reboot            text NOT NULL DEFAULT '' CHECK (reboot IN ('', 'needed', 'wait', 'ask', 'countdown')),
	reboot_at         timestamptz,
	reboot_since      timestamptz,
	postponed         integer NOT NULL DEFAULT 0,
	policy_error      text NOT NULL DEFAULT '',
	lines             text NOT NULL DEFAULT '[]'
);
CREATE INDEX host_schedule_past_deadline ON host_schedule (host_pk) WHERE past_deadline > 0;

CREATE TABLE host_schedule_events (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	host_pk bigint NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
	at      timestamptz NOT NULL,
	kind    text NOT NULL,
	text    text NOT NULL DEFAULT '',
	UNIQUE (host_pk, at, kind, text)
);
