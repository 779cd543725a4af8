"""The store's tables (SQLAlchemy Core). Alembic migrations create them; keep the two in step."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

furnishers = sa.Table(
    "furnishers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("registered_at", sa.DateTime, nullable=False),
)

subjects = sa.Table(
    "subjects",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
)

# Names, regions and audit attributes: for display and fairness audits, never scoring inputs.
registry = sa.Table(
    "registry",
    metadata,
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("region", sa.String(100)),
    sa.Column("urban", sa.Boolean),
    sa.Column("birth_year", sa.Integer),
    sa.Column("sex", sa.String(8)),
    sa.Column("address", sa.String(300)),  # organisations' registered address (phoenix check)
)

# The ledger: append-only; triggers refuse UPDATE and DELETE.
records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("furnisher", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("attributes", sa.Text, nullable=False),
    sa.Column("evidence", sa.String(500)),
    sa.Column("replaces", sa.String(128)),
    # A correction's chain: the external id of the chain's first record, resolved when the
    # correction arrives (null for a record that replaces nothing). Written once, never changed.
    sa.Column("chain", sa.String(128)),
    sa.UniqueConstraint("furnisher", "external_id", name="uq_records_furnisher_external_id"),
)
sa.Index("ix_records_subject", records.c.subject)
sa.Index(
    "ix_records_chain",
    records.c.furnisher,
    records.c.chain,
    sqlite_where=records.c.chain.is_not(None),
    postgresql_where=records.c.chain.is_not(None),
)

relations = sa.Table(
    "relations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("furnisher", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("other", sa.String(32), nullable=False),
    sa.Column("relation", sa.String(32), nullable=False),
    sa.Column("start", sa.DateTime, nullable=False),
    sa.Column("end", sa.DateTime),
    sa.Column("confirmed", sa.Boolean, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("furnisher", "external_id", name="uq_relations_furnisher_external_id"),
)
sa.Index("ix_relations_subject", relations.c.subject)
sa.Index("ix_relations_other", relations.c.other)

# Every program version ever used, so a snapshot's policy hash can always be read back.
policies = sa.Table(
    "policies",
    metadata,
    sa.Column("version", sa.String(40), primary_key=True),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("first_used_at", sa.DateTime, nullable=False),
)

score_runs = sa.Table(
    "score_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(40), nullable=False),
    sa.Column("as_of", sa.DateTime, nullable=False),
    sa.Column("engine", sa.String(16), nullable=False),
    sa.Column("computed_at", sa.DateTime, nullable=False),
    sa.Column("subjects", sa.Integer, nullable=False),
    # "full": everyone in the program's scope; "subjects": a rescoring of a few after new records
    sa.Column("scope", sa.String(16), nullable=False, server_default="full"),
    # The last ledger id visible when the run read the ledger: it reflects every record up to it.
    sa.Column("ledger_position", sa.BigInteger),
)

# Score snapshots: one row per subject per run, never overwritten.
scores = sa.Table(
    "scores",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(40), nullable=False),
    sa.Column("as_of", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("score", sa.Integer),
    sa.Column("grade", sa.String(16)),
    sa.Column("percentile", sa.Float),
    sa.Column("explanation", sa.Text, nullable=False),
)
sa.Index("ix_scores_subject_program", scores.c.subject, scores.c.program, scores.c.run_id)
sa.Index("ix_scores_run", scores.c.run_id)

# Callers of the HTTP service. Keys are never stored, only their SHA-256; a principal is never
# deleted, only revoked, so the access log can always name who read what.
principals = sa.Table(
    "principals",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(32)),
    sa.Column("furnisher", sa.String(64)),
    sa.Column("kinds", sa.Text),  # comma-separated record kinds; NULL: all its type may send
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.UniqueConstraint("key_hash", name="uq_principals_key_hash"),
)

# A subject's consent for one relying party, one purpose, some scopes, until an expiry.
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("relying_party", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("scopes", sa.String(200), nullable=False),  # comma-separated
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("granted_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.UniqueConstraint("token_hash", name="uq_consents_token_hash"),
)
sa.Index("ix_consents_subject", consents.c.subject)
sa.Index("ix_consents_relying_party", consents.c.relying_party)

# Codes an admin issued for a subject to claim a key of its own: only the code's SHA-256 is
# kept; a code is redeemed once (redeemed_at, and the principal it made) before it expires.
enrolments = sa.Table(
    "enrolments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("issued_by", sa.String(40), nullable=False),
    sa.Column("issued_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("redeemed_at", sa.DateTime),
    sa.Column("redeemed_by", sa.String(40)),
    sa.UniqueConstraint("code_hash", name="uq_enrolments_code_hash"),
)
sa.Index("ix_enrolments_subject", enrolments.c.subject)

# Every read of a subject's file: append-only; triggers refuse UPDATE and DELETE.
access_log = sa.Table(
    "access_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("principal", sa.String(40), nullable=False),
    sa.Column("principal_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(32)),
    sa.Column("what", sa.String(32), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("consent", sa.String(40)),
    sa.Column("returned", sa.Text, nullable=False),  # JSON: a summary of what was served
)
sa.Index("ix_access_log_subject", access_log.c.subject, access_log.c.id)

# ---- lists and decisions

# Every decision on a service about a subject, with its trace: append-only.
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(32)),
    sa.Column("principal", sa.String(40), nullable=False),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("measures", sa.Text, nullable=False),  # JSON
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(40)),
    sa.Column("catalogue_version", sa.String(40), nullable=False),
    sa.Column("trace", sa.Text, nullable=False),  # JSON
)
sa.Index("ix_decisions_subject", decisions.c.subject, decisions.c.id)

# Credit repair applications and their outcome; a granted repair ends the cases begun before it.
repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("list", sa.String(64), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
    sa.Column("commitment", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # granted | refused
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(40), nullable=False),
)
sa.Index("ix_repairs_subject", repairs.c.subject, repairs.c.list)

# ---- Disputes (objections) and human reviews of adverse decisions (migration 0005).

# One dispute of one record: where it stands (at most one open per record).
disputes = sa.Table(
    "disputes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("record", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("furnisher", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.String(500)),
    sa.Column("statement", sa.Text),  # the subject's statement: travels with the record
    sa.Column("opened_at", sa.DateTime, nullable=False),
    sa.Column("opened_by", sa.String(40), nullable=False),
    sa.Column("deadline", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | closed
    sa.Column("outcome", sa.String(16)),  # verified | retracted | not_verified | upheld | ...
    sa.Column("closed_at", sa.DateTime),
    sa.Column("closed_by", sa.String(40)),
    sa.Column("closing_reason", sa.Text),
    sa.Column("closing_evidence", sa.String(500)),
    sa.Column("retraction", sa.String(128)),  # external id of the retraction record
    sa.Column("reinserted", sa.BigInteger().with_variant(sa.Integer, "sqlite")),  # record id
)
sa.Index("ix_disputes_subject", disputes.c.subject, disputes.c.id)
sa.Index("ix_disputes_furnisher", disputes.c.furnisher, disputes.c.id)
sa.Index("ix_disputes_record", disputes.c.record)
sa.Index("ix_disputes_reinserted", disputes.c.reinserted)
sa.Index("ix_disputes_status_deadline", disputes.c.status, disputes.c.deadline)
sa.Index(
    "uq_disputes_open_record",
    disputes.c.record,
    unique=True,
    sqlite_where=disputes.c.status == "open",
    postgresql_where=disputes.c.status == "open",
)

# A subject's request for a human review of an adverse decision, and the reviewer's answer.
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("decision", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("original", sa.String(32), nullable=False),  # the decision under review
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("requested_by", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | closed
    sa.Column("outcome", sa.String(16)),  # confirmed | overridden
    sa.Column("new_decision", sa.String(32)),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.String(40)),
    sa.Column("decision_reason", sa.Text),
)
sa.Index("ix_reviews_subject", reviews.c.subject, reviews.c.id)
sa.Index("ix_reviews_decision", reviews.c.decision)
sa.Index(
    "uq_reviews_open_decision",
    reviews.c.decision,
    unique=True,
    sqlite_where=reviews.c.status == "open",
    postgresql_where=reviews.c.status == "open",
)

# Who did what to a dispute or review, when and why: append-only (triggers).
due_process_log = sa.Table(
    "due_process_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("dispute", sa.Integer),
    sa.Column("review", sa.Integer),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("principal", sa.String(40), nullable=False),
    sa.Column("principal_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.Text, nullable=False),  # JSON
)
sa.Index("ix_due_process_log_dispute", due_process_log.c.dispute, due_process_log.c.id)
sa.Index("ix_due_process_log_review", due_process_log.c.review, due_process_log.c.id)

# What a subject was told (dispute outcomes, re-insertions, reviews, ...): append-only.
notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("refs", sa.Text, nullable=False),  # JSON object: ids of what the notice is about
)
sa.Index("ix_notices_subject", notices.c.subject, notices.c.id)

# ---- reports of others' breaches (migration 0006)

# Reports filed by subjects about other subjects: append-only; triggers refuse UPDATE and DELETE.
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("reporter", sa.String(32), nullable=False),
    sa.Column("principal", sa.String(40), nullable=False),
    sa.Column("target", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("evidence", sa.String(500), nullable=False),
    sa.Column("filed_at", sa.DateTime, nullable=False),
)
sa.Index("ix_reports_reporter", reports.c.reporter, reports.c.filed_at)
sa.Index("ix_reports_target", reports.c.target)
sa.Index("ix_reports_filed_at", reports.c.filed_at)

# One decision per report, with who decided, why, the flags it saw and the records it wrote
# (JSON): append-only.
report_decisions = sa.Table(
    "report_decisions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("report", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(40), nullable=False),
    sa.Column("decided_by_name", sa.String(200), nullable=False),
    sa.Column("decided_at", sa.DateTime, nullable=False),
    sa.Column("flags", sa.Text, nullable=False),
    sa.Column("records", sa.Text, nullable=False),
    sa.UniqueConstraint("report", name="uq_report_decisions_report"),
)

# ---- sharing and the social side (migration 0007)

# Score badges a subject shares with one relying party by link; only the token's hash is kept.
# Shares are revoked, never deleted, so the access log can always name the link a read used.
shares = sa.Table(
    "shares",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("program", sa.String(64), nullable=False),
    sa.Column("relying_party", sa.String(40), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime),
    sa.Column("revoked_at", sa.DateTime),
    sa.UniqueConstraint("token_hash", name="uq_shares_token_hash"),
)
sa.Index("ix_shares_subject", shares.c.subject, shares.c.id)

# A subject's opt-ins to the public side; no row means everything is off.
subject_settings = sa.Table(
    "subject_settings",
    metadata,
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("public_percentile", sa.Boolean, nullable=False),
    sa.Column("leaderboard", sa.Boolean, nullable=False),
    sa.Column("game", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# ---- retention and maintenance (migration 0008)

# Every record the retention purge deleted: who furnished it, about whom, of what kind, when it
# occurred, why and when it went; never its content. Append-only (triggers refuse UPDATE and
# DELETE), and the records trigger lets a DELETE through only for a record named here by the
# maintenance run under way (`run`: the latest started and not finished; migration 0013).
purges = sa.Table(
    "purges",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("purged_at", sa.DateTime, nullable=False),
    sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    sa.Column("furnisher", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("run", sa.Integer),  # the maintenance run (null for purges before 0013)
)
sa.Index("ix_purges_record", purges.c.record_id)
sa.Index("ix_purges_subject", purges.c.subject, purges.c.id)
sa.Index("ix_purges_run", purges.c.run)

# Each run of `socialcredit maintain` as it starts: append-only. Its id is the run's id.
maintenance_starts = sa.Table(
    "maintenance_starts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("as_of", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
)

# Each run of `socialcredit maintain` (by hand or on the server's schedule) as it finished, with
# the id of its start: append-only.
maintenance_runs = sa.Table(
    "maintenance_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("as_of", sa.DateTime, nullable=False),  # the moment it maintained the store for
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("disputes_closed", sa.Integer, nullable=False),
    sa.Column("expired", sa.Integer, nullable=False),
    sa.Column("rescored", sa.Integer, nullable=False),
    sa.Column("purged", sa.Integer, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # JSON: the run's report
)

# Domain events committed with the change that caused them, one row per subject; the worker
# handles them (rescoring) and deletes them. A subject with a row here has a score not yet fresh.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("ledger_position", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
sa.Index("ix_outbox_subject", outbox.c.subject)
