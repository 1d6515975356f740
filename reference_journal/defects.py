"""The catalogue of switchable defects: realistic vendor mistakes, each tied to the
requirement IDs (specs/requirements.yaml) it breaks.

A defect is switched on by naming it in `Settings.defects` (TOML `defects = [...]`, or
`ezhd reference-journal serve --defect ID`). Code asks the journal's switch:

    if journal.defect_on("PARENT_READS_ANY_CHILD"): ...

Asking for an id that is not in the catalogue raises `KeyError`, so a typo in code cannot
silently disable a check. `implemented_in` says where a defect lives: `journal` (this
package's own code: roles, on-demand API, web API, event log, passwords, SBOM), `auth` (the
ЕСИА sign-in slot) or `export` (the export/notification slot). Defects of a slot that is not
installed are listed but have no effect; `Settings` accepts them so a configuration stays
valid when the slot arrives. `DEFECTS.md` is rendered from this table (`render_markdown`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

JOURNAL, AUTH, EXPORT = "journal", "auth", "export"
PLACES = (JOURNAL, AUTH, EXPORT)


@dataclass(frozen=True)
class Defect:
    """One switchable defect."""

    id: str
    requirement_ids: tuple[str, ...]
    title: str
    description: str
    implemented_in: str = JOURNAL
    where: str = ""  # module (or slot) that checks the switch
    # journal settings under which the defect can show at all (e.g. a showcase-channel defect);
    # `ezhd certify --reference-defect` applies them
    settings: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "requirement_ids": list(self.requirement_ids), "title": self.title,
                "description": self.description, "implemented_in": self.implemented_in,
                "where": self.where, "settings": dict(self.settings)}


CATALOGUE: dict[str, Defect] = {}


def defect(id: str, requirements: Iterable[str], title: str, description: str,
           implemented_in: str = JOURNAL, where: str = "", settings: dict[str, str] | None = None) -> Defect:
    """Register a defect (ids are unique, upper-case with underscores)."""
    if id in CATALOGUE:
        raise ValueError(f"defect {id} registered twice")
    if not id.replace("_", "").isalnum() or id != id.upper():
        raise ValueError(f"defect id {id!r} must be UPPER_CASE letters, digits and underscores")
    if implemented_in not in PLACES:
        raise ValueError(f"defect {id}: implemented_in must be one of {PLACES}")
    entry = Defect(id, tuple(requirements), title, " ".join(description.split()), implemented_in,
                   where or (f"reference_journal.{implemented_in}" if implemented_in != JOURNAL else ""),
                   tuple(sorted((settings or {}).items())))
    CATALOGUE[id] = entry
    return entry


class DefectSwitch:
    """The defects switched on for one journal; `switch(id)` is True when `id` is on."""

    def __init__(self, enabled: Iterable[str] = ()) -> None:
        enabled = frozenset(enabled)
        unknown_ids = unknown(enabled)
        if unknown_ids:
            raise KeyError(f"unknown defect {', '.join(unknown_ids)}")
        self.enabled = enabled

    def __call__(self, defect_id: str) -> bool:
        if defect_id not in CATALOGUE:
            raise KeyError(f"unknown defect {defect_id!r} (not in reference_journal.defects)")
        return defect_id in self.enabled


def unknown(ids: Iterable[str]) -> list[str]:
    """The ids that name no defect, sorted."""
    return sorted(set(ids) - set(CATALOGUE))


def implemented_here() -> list[Defect]:
    """Defects that this package's own code implements (not a slot's)."""
    return [d for d in CATALOGUE.values() if d.implemented_in == JOURNAL]


# --- AUTH: sign-in through ЕСИА (the auth slot) ----------------------------------------------

defect("ESIA_SIGN_IN_PARENTS_ONLY", ["AUTH-01"], "ЕСИА sign-in for parents only",
       """Only parents can finish the ЕСИА sign-in; a student or a teacher coming back from ЕСИА is
       told to use the journal's own login and password.""", AUTH)
defect("CLIENT_SECRET_V1_ORDER", ["AUTH-02"], "client_secret over the v1 field order",
       """On `/aas/oauth2/v2/ac` the `client_secret` is signed over the legacy v1 string
       (scope + timestamp + client_id + state), so ЕСИА answers ESIA-007053.""", AUTH)
defect("TIMESTAMP_WITHOUT_OFFSET", ["AUTH-02"], "timestamp without a time-zone offset",
       """`timestamp` is sent as `yyyy.MM.dd HH:mm:ss` without `±zzzz`, the format ЕСИА
       prescribes, so the request is refused (ESIA-007015).""", AUTH)
defect("STATE_NOT_CHECKED", ["AUTH-03"], "state not checked on return",
       """The callback accepts any `state`: missing, reused or issued to another browser.""", AUTH)
defect("STATE_REUSED", ["AUTH-03"], "one state for every attempt",
       """The journal sends the same `state` value in every authorization request (a constant
       chosen at start-up) instead of a fresh random one.""", AUTH)
defect("ACCEPT_ALG_NONE", ["AUTH-04"], "unsigned tokens accepted",
       """A token with `alg: none` and no signature is accepted as valid.""", AUTH)
defect("SKIP_AUD_CHECK", ["AUTH-04"], "audience not checked",
       """`aud` is not compared with the journal's client id: a token ЕСИА issued to another
       system opens a session.""", AUTH)
defect("IGNORE_TOKEN_EXPIRY", ["AUTH-04"], "exp/nbf not checked",
       """An expired (or not yet valid) token still opens a session.""", AUTH)
defect("TOKEN_SKEW_IN_HOURS", ["AUTH-04"], "clock skew allowed in hours",
       """`exp` and `nbf` are checked with a two-hour clock-skew allowance (seconds taken for
       minutes), so a token that expired minutes ago still opens a session.""", AUTH)
defect("SKIP_TOKEN_SIGNATURE", ["AUTH-04"], "token signature not verified",
       """The token payload is decoded without verifying the signature against ЕСИА's key,
       so a forged token opens a session.""", AUTH)
defect("LINK_BY_NAME_ONLY", ["AUTH-05"], "person matched by full name only",
       """The ЕСИА user is matched to a journal record by last, first and middle name alone,
       ignoring SNILS and birth date: a namesake is linked to another child's record.""", AUTH)
defect("LINK_WITHOUT_SNILS", ["AUTH-05"], "missing SNILS does not refuse the link",
       """When the ЕСИА account has no SNILS the journal links by name and birth date instead
       of refusing and sending the user to the school.""", AUTH)
defect("MISMATCH_MESSAGE_GENERIC", ["AUTH-05"], "refusal does not say what differs",
       """A data mismatch is refused with a generic «Ваш дневник не найден» that does not name
       the field that differs (SNILS, name or birth date).""", AUTH)
defect("AUTO_LINK_PARENTS_ONLY", ["AUTH-06"], "automatic linking for parents only",
       """The first ЕСИА sign-in links a matched parent's account; a matched teacher or learner
       is refused as not linked and told to link the account from the personal settings.""", AUTH)
defect("NO_AUTO_LINK", ["AUTH-06"], "no automatic linking",
       """The first ЕСИА sign-in of a matched person does not link the oid; the user must find
       and use manual linking in the settings.""", AUTH)
defect("MANUAL_LINK_CONFIRMED_ONLY", ["AUTH-07"], "manual linking refuses simplified accounts",
       """Linking a ЕСИА account from personal settings works only for confirmed accounts; a
       simplified or standard account is refused.""", AUTH)
defect("LINK_WITHOUT_SESSION_CRASHES", ["AUTH-07"], "linking without a session is a server error",
       """The personal-settings link endpoint reads the signed-in user without checking that there
       is one: a request without a journal session (an expired session, a bookmarked link) ends
       in HTTP 500 instead of a refusal or a way to sign in.""", AUTH)
defect("CHILD_SIGN_IN_WITHOUT_CONSENT", ["AUTH-08"], "child signs in before parental consent",
       """A child under 14 signs in although no linked parent has consented yet.""", AUTH)
defect("CONSENT_REVOCATION_IGNORED", ["AUTH-08"], "revoked consent stays granted",
       """`POST /api/v1/consents` with `action: revoked` is acknowledged (204) but the consent
       state is not changed, so the child can still sign in.""", JOURNAL, "reference_journal.api")
defect("CONSENT_APPLIED_BY_ARRIVAL", ["AUTH-08"], "consent notifications applied in arrival order",
       """The last consent notification to arrive wins, whatever its `changed_at`: a grant that
       was overtaken by a revocation but delivered late lets the child in again.""",
       JOURNAL, "reference_journal.api")
defect("CONSENT_CHILD_BY_LEARNER_ID_ONLY", ["AUTH-08"], "consent names the child by learner_id only",
       """A consent notification naming the child by `child_oid` or `child_snils` alone (as
       journal.yaml allows) is answered 404 and not applied.""", JOURNAL, "reference_journal.api")
defect("CONSENT_CONFLICT_APPLIED", ["AUTH-08"], "a reused consent_id with other content is applied",
       """A notification that reuses a `consent_id` with different content is applied (last
       write wins) instead of being refused as 409 `consent_conflict`.""", JOURNAL, "reference_journal.api")
defect("REISSUE_CREATES_DUPLICATE", ["AUTH-09"], "re-issued account creates a duplicate",
       """When a child's ЕСИА account is replaced at 14 (new oid, same SNILS) the journal creates
       a second student account instead of re-linking the existing record.""", AUTH)
defect("SIGN_OUT_KEEPS_ESIA_SESSION", ["AUTH-11"], "no ЕСИА logout on sign-out",
       """Sign-out ends the journal session but does not redirect to ЕСИА's
       `/idp/ext/Logout`, so the ЕСИА session stays open.""", AUTH)
defect("SIGN_OUT_KEEPS_SESSION", ["AUTH-11"], "sign-out does not end the session",
       """`DELETE /web/api/v1/session` answers 204 and clears the cookie, but the session token
       stays valid on the server.""", JOURNAL, "reference_journal.web")
defect("TEACHER_UNCONFIRMED_ACCEPTED", ["AUTH-12"], "teacher with an unconfirmed account",
       """A teacher signs in with a simplified or standard ЕСИА account.""", AUTH)
defect("ORGANISATION_NOT_CHECKED", ["AUTH-12"], "school not identified by its organisation account",
       """A school administrator's organisation is taken from the journal only; the ЕСИА
       organisation account (INN/OGRN) is never checked.""", AUTH)
defect("TEEN_CHILD_ACCOUNT_ACCEPTED", ["AUTH-13"], "a child account accepted at 14 or over",
       """A sign-in with a child account (`lvl` KD) is trusted whatever the learner's age: a
       learner of 14 or over whose account was not re-issued signs in without a confirmed
       account.""", AUTH)
defect("ADULT_SIMPLIFIED_ACCEPTED", ["AUTH-13"], "adult with a simplified account",
       """A parent or a student of 14 or over signs in with a simplified or standard ЕСИА
       account instead of being told to confirm it.""", AUTH)
defect("CHILD_LEVEL_NOT_CHECKED", ["AUTH-13"], "child account level not checked",
       """A learner under 14 is let in with an adult-level account (`urn:esia:sbj:lvl` other
       than KD), e.g. a parent's account used on the child's behalf.""", AUTH)

# --- ROLE: who may see and change what (this package) ---------------------------------------

defect("PARENT_READS_ANY_CHILD", ["ROLE-01"], "parent reads any learner by id",
       """The family check is skipped for parents: any linked parent reads any learner's diary
       by changing the learner id (IDOR).""", JOURNAL, "reference_journal.core")
defect("CLASSMATES_VISIBLE", ["ROLE-01"], "parent reads their children's classmates",
       """The family check compares classes instead of links: a parent reads the diary of every
       learner who shares a class with one of their children.""", JOURNAL, "reference_journal.core")
defect("UNDER_14_WRITES_VIA_ESIA", ["ROLE-02"], "under-14 learner writes after an ЕСИА sign-in",
       """The read-only rule for learners under 14 is checked for sessions opened with the school's
       login and password only; the same child signed in through ЕСИА with a child account may
       write.""", JOURNAL, "reference_journal.web")
defect("FAMILY_CHECK_BY_PREFIX", ["ROLE-01"], "family check matches id prefixes",
       """The family check compares learner ids as prefixes (a `LIKE 'id%'` lookup): the parent of
       learner …LRN1 reads …LRN14 and every other learner whose id begins the same.""", JOURNAL,
       "reference_journal.core")
defect("BIRTHDAY_COUNTED_NEXT_DAY", ["ROLE-03"], "a birthday counts from the next day",
       """Age is counted as full years before today, so on the 14th birthday itself the learner is
       still 13 and may not add their own data.""", JOURNAL, "reference_journal.core")
defect("UNDER_14_CAN_WRITE", ["ROLE-02"], "under-14 learner may write",
       """The age check on writes is missing: a learner under 14 adds achievements.""",
       JOURNAL, "reference_journal.web")
defect("AGE_BY_BIRTH_YEAR", ["ROLE-02", "ROLE-04"], "age counted by birth year",
       """A learner's age is the current year minus the birth year, so a child born late in the
       year counts as 14 from 1 January: they can write, and their parent can no longer set
       their password.""", JOURNAL, "reference_journal.core")
defect("TEEN_WRITES_WITH_PASSWORD_ONLY", ["ROLE-03"], "a teen writes only in a password session",
       """A learner of 14 or over adds achievements when signed in with the school's login; the
       same learner signed in through ЕСИА is refused (the write check asks for a password
       session).""", JOURNAL, "reference_journal.web")
defect("TEEN_ACHIEVEMENTS_HIDDEN_IN_PARENT_DIARY", ["ROLE-03"], "parent's diary hides a teen's own achievements",
       """The parent's diary in the journal's own interface lists only the achievements the
       school entered; the portal's answer still shows the ones the learner added.""", JOURNAL,
       "reference_journal.web")
defect("TEEN_CANNOT_ADD_ACHIEVEMENT", ["ROLE-03"], "learners of 14+ cannot add achievements",
       """Only school staff may add achievements; a learner of 14 or over is refused.""",
       JOURNAL, "reference_journal.web")
defect("LEARNER_ACHIEVEMENTS_HIDDEN", ["ROLE-03", "API-06"], "learner-added achievements hidden",
       """Achievements added by the learner (`added_by` = 2) are shown to the learner only: the
       parent and the portal do not see them.""", JOURNAL, "reference_journal.diary")
defect("WEAK_PASSWORD_ACCEPTED", ["ROLE-04", "CRED-02"], "password policy checks length only",
       """A new password needs only 8 characters; upper and lower case, digits and symbols are
       not required.""", JOURNAL, "reference_journal.passwords")
defect("CHILD_SETS_OWN_PASSWORD", ["ROLE-02"], "a child under 14 sets their password through the portal",
       """`setLearnerPassword` checks that the user is the learner's parent or the learner
       themself, so a child under 14 signed in to the portal changes their own journal
       password.""", JOURNAL, "reference_journal.api")
defect("CHILD_CHANGES_OWN_CONSENT", ["ROLE-02"], "a child under 14 revokes their own consent",
       """`postConsent` accepts a notification from the child the consent is about, as if from
       a parent: a child signed in to the portal can revoke (or grant) it.""", JOURNAL,
       "reference_journal.api")
defect("PASSWORD_FOR_TEEN", ["ROLE-04"], "parent sets a 14+ child's password",
       """The parent may set the password of a child of 14 or over, who manages it
       themself.""", JOURNAL, "reference_journal.api")
defect("JOIN_REQUEST_AUTO_APPROVED", ["ROLE-05"], "join request approved without the administrator",
       """A parent's join request that names a child is approved at once, without waiting for
       the school administrator: the requester reads that child's diary.""",
       JOURNAL, "reference_journal.web")
defect("JOIN_APPROVED_BY_OTHER_SCHOOL", ["ROLE-05"], "any school's administrator may approve",
       """A join request to one school can be approved by the administrator of another
       school.""", JOURNAL, "reference_journal.web")
defect("JOIN_LEARNER_NOT_ENROLLED", ["ROLE-05"], "an approved learner is put in no class",
       """Approving a request to join as a learner creates the learner and gives the account its
       role, but not the membership of the class asked for (or chosen by the administrator):
       the learner is in no class, so has no schedule and is exported without one. Found by
       the fifth mutation sample.""", JOURNAL, "reference_journal.web")
defect("JOIN_DECISION_REVERSIBLE", ["ROLE-05"], "an approved request can be rejected afterwards",
       """A join request already approved can be decided again: a later rejection is taken
       (the request shows as rejected) although the account keeps the role and data the
       approval gave. Found by the fifth mutation sample.""", JOURNAL, "reference_journal.web")
defect("GRADE_JOIN_AUTO_APPROVED", ["ROLE-05"], "requests naming a grade level approved at once",
       """The approval step is keyed on the class: a join request that names only a grade level
       (no class) is approved as soon as it is filed, and the requester sees the school's data.""",
       JOURNAL, "reference_journal.web")
defect("JOIN_REQUESTS_SHOWN_TO_EVERY_SCHOOL", ["ROLE-05"], "every school's administrator sees every request",
       """The list of waiting join requests is not filtered by the administrator's school: the
       requesters' names, children and classes are shown to every school.""",
       JOURNAL, "reference_journal.web")

# --- EXP: export to the showcase (the export slot) -------------------------------------------

defect("EXPORT_SKIPS_TABLE", ["EXP-01"], "a table is never uploaded",
       """`events` and `event_learners` are left out of every export.""", EXPORT)
defect("EXPORT_DATES_RU_FORMAT", ["EXP-02"], "dates written as dd.mm.yyyy",
       """Dates and datetimes are written in the Russian display format instead of
       `YYYY-MM-DD [hh:mm:ss]`, so ФЛК rejects the files.""", EXPORT)
defect("EXPORT_CHILD_BEFORE_PARENT", ["EXP-02"], "child tables before their parents",
       """Tables are sent in alphabetical order, so rows reference keys the showcase does not
       have yet and fail the foreign-key check.""", EXPORT)
defect("EXPORT_DELETED_MARK", ["EXP-03"], "deleted records never deleted in the showcase",
       """Deleting a mark (or any row) in the journal never sends a `delete` file: the showcase
       keeps the record.""", EXPORT)
defect("DELETES_FOR_MARKS_ONLY", ["EXP-03"], "deletes sent for marks only",
       """A deleted mark is deleted in the showcase, but a deleted record of any other table
       (an achievement, …) never gets a `delete` file.""", EXPORT)
defect("INCREMENT_SKIPS_UPDATES", ["EXP-04"], "increments carry new rows only",
       """An incremental export sends inserted rows but not updated ones: a corrected mark never
       reaches the showcase.""", EXPORT)
defect("SCHEDULE_NEVER_RUNS", ["EXP-04"], "the journal's own export schedule never fires",
       """Exports started through test-control work, but the journal's own schedule never
       starts an incremental export: changes reach the showcase only when someone asks.""", EXPORT)
defect("SCHEDULE_RUNS_ONCE", ["EXP-04"], "the export schedule fires only once",
       """The journal's scheduled export runs once after start-up and is never re-armed: the first
       period's changes reach the showcase, later ones only when someone asks.""", EXPORT)
defect("FORGET_RETROSPECTIVE_YEARS", ["EXP-05"], "previous academic years not uploaded",
       """A full export sends the current academic year only.""", EXPORT)
defect("NO_RETRY_ON_503", ["EXP-06"], "no retry after 5xx or a transport error",
       """A 503, 500 or a dropped connection fails the upload at once: it is never retried.""",
       EXPORT)
defect("DELETE_NOT_RETRIED", ["EXP-06"], "a failed delete call is not retried",
       """Uploads are retried after a transport failure or 5xx; a delete call that meets one is
       given up, so the deleted record stays in the showcase until someone notices.""", EXPORT)
defect("RETRY_ONLY_ON_503", ["EXP-06"], "only a 503 is retried",
       """A 503 is retried with back-off, but a 500, 502, 504 or a dropped connection ends the
       file as failed: the data waits for the next run.""", EXPORT)
defect("NO_STATUS_POLLING", ["EXP-06"], "request id taken as success",
       """On the showcase channel the journal records an upload as done as soon as it gets a
       request id and never polls its status, so ФЛК errors go unnoticed.""", EXPORT,
       settings={"export_channel": "showcase"})
defect("FLK_REPORT_ENDS_FILE", ["EXP-06"], "a ФЛК report ends the file",
       """When the showcase's ФЛК reports records of a file, the journal records the whole file as
       refused and sends nothing more: the named records are not held back (or corrected) and
       the file's other records never reach the showcase. Found by mutation testing (a status 7
       with a report taken as a plain refusal).""", EXPORT)
defect("RETRY_ON_400", ["EXP-06"], "a refused file is resent unchanged",
       """A file refused with 400 (or status 7) is sent again, unchanged, until the job's
       attempt limit, instead of being corrected or reported.""", EXPORT)
defect("RETRY_WITHOUT_BACKOFF", ["EXP-06"], "retries at a fixed pause",
       """After a 5xx or a transport failure the file is sent again after the same base pause
       every time: the waits between retries do not grow.""", EXPORT)
defect("RETRY_IGNORES_RETRY_AFTER", ["EXP-06"], "Retry-After ignored",
       """A 503 with `Retry-After` is retried after the journal's own back-off, sooner than
       the server asked.""", EXPORT)
defect("HASHED_FIELD_IN_CLEAR", ["EXP-08"], "personal value in a depersonalised column",
       """The exporter maps the wrong field into `document_hash`: the person's SNILS, in clear,
       instead of the ГОСТ Р 34.11-2012/512 digest.""", EXPORT)

# --- API: the portal's on-demand requests (this package) -------------------------------------

defect("HASH_NOT_NORMALISED", ["EXP-08"], "document hashed as typed",
       """A document number entered in the journal is hashed as typed (spaces, dashes, case),
       not as letters and digits in upper case: the digest differs from the one the standard
       gives for the same document.""", EXPORT)
defect("OPENAPI_INCOMPATIBLE", ["API-01"], "published OpenAPI renames parameters",
       """The OpenAPI description the journal publishes calls the period parameters
       `date_from`/`date_to`, unlike the standard's `from`/`to`.""", JOURNAL, "reference_journal.api")
defect("MARKS_PERIOD_END_EXCLUSIVE", ["API-02"], "marks of the last day missing",
       """The period is treated as half-open: marks dated `to` are left out.""", JOURNAL,
       "reference_journal.diary")
defect("ATTENDANCE_OMITS_LATENESS", ["API-03"], "lateness not reported",
       """Attendance lists absences only; lateness records (status 4) are dropped.""", JOURNAL,
       "reference_journal.diary")
defect("LESSONS_OMIT_CANCELLED", ["API-04"], "cancelled lessons dropped",
       """The schedule leaves out cancelled lessons (status 2) instead of listing them as
       cancelled.""", JOURNAL, "reference_journal.diary")
defect("HOMEWORK_BY_ASSIGNED_DATE", ["API-05"], "homework filtered by assignment date",
       """Homework is selected by `assigned_date` instead of `due_date`.""", JOURNAL,
       "reference_journal.diary")
defect("HOMEWORK_SUBJECT_RENAMED", ["API-01"], "a display field under the vendor's own name",
       """Homework items carry the subject's name as `subject` instead of journal.yaml's
       `subject_name`: a property the item schema does not allow (vendor additions are `x_…`
       only), which the portal does not read.""", JOURNAL, "reference_journal.diary")
defect("SEND_DATETIME_EMPTY_BEFORE_EXPORT", ["API-02"], "an unsent record answered without its send time",
       """A diary record not yet sent to the showcase is answered with `send_datetime: null`
       instead of the time of the answer (journal.yaml), which the item schema does not allow;
       exported records are answered correctly. Found by the fourth mutation sample.""", JOURNAL,
       "reference_journal.diary")
defect("ERROR_MESSAGE_EMPTY", ["API-08"], "refusals of the on-demand API explain nothing",
       """Errors of the on-demand API keep their status and `error` code but carry an empty
       `message` (journal.yaml: a human-readable explanation, not empty). Found by the fifth
       mutation sample.""", JOURNAL, "reference_journal.app")
defect("LEARNER_ACHIEVEMENT_LEVEL_IGNORED", ["ROLE-03"], "a learner's own achievement loses its level",
       """An achievement a learner of 14+ enters is stored with the lowest level code whatever
       level they chose (the form's field is not read); the school's entries keep theirs. Found
       by the sixth mutation sample (a field of the learner's entry lost).""", JOURNAL,
       "reference_journal.web")
defect("ACHIEVEMENTS_IGNORE_PERIOD", ["API-06"], "achievement period ignored",
       """`from`/`to` are ignored: every achievement of the learner is returned.""", JOURNAL,
       "reference_journal.diary")
defect("MARK_TEACHER_FROM_CLASS", ["API-07"], "mark teacher taken from the class",
       """Marks name the class teacher (`classes.class_teacher_id`) instead of the teacher who
       gave the mark, so the answer differs from the showcase.""", JOURNAL,
       "reference_journal.diary")
defect("BAD_DATE_500", ["API-08"], "malformed date crashes",
       """A malformed `from`/`to` is parsed without a check and the request ends in 500.""",
       JOURNAL, "reference_journal.api")
defect("UNKNOWN_LEARNER_EMPTY", ["API-08"], "unknown learner answered as empty",
       """An unknown learner id gives 200 with no items instead of 404 `learner_not_found`.""",
       JOURNAL, "reference_journal.api")
defect("MESSAGE_ID_REQUIRED", ["API-08"], "optional message id required",
       """A call without `X-Smev-Message-Id` (optional in journal.yaml) is refused as 400
       `missing_parameter`, so the portal's calls that carry none get no data.""",
       JOURNAL, "reference_journal.api")
defect("ACCEPT_ANY_CALLER", ["API-09"], "on-demand API answers any caller",
       """`X-Smev-Sender` is not checked: any system (or none) that reaches the journal gets the
       data.""", JOURNAL, "reference_journal.api")
defect("CALLER_PREFIX_MATCH", ["API-09"], "a caller sharing the portal's prefix is answered",
       """`X-Smev-Sender` is compared with `startswith`: `EPGU_RVD` or `EPGUX` pass for the
       portal.""", JOURNAL, "reference_journal.api")
defect("CALLER_CASE_INSENSITIVE", ["API-09"], "the caller's mnemonic compared without case",
       """`X-Smev-Sender` is compared after case folding and trimming: `epgu` passes for the
       portal `EPGU`.""", JOURNAL, "reference_journal.api")
defect("CALLER_UNCHECKED_FOR_HOMEWORK", ["API-09"], "one operation answers any caller",
       """The caller check is missing on the homework operation only: any system that reaches
       the journal reads a learner's homework.""", JOURNAL, "reference_journal.api")

# --- NOTIF: events for parents --------------------------------------------------------------

defect("EVENTS_NOT_PUSHED", ["NOTIF-01"], "events never sent to the portal",
       """Key events are kept in the journal and exported to the showcase but never pushed to
       the portal inbox for the parents concerned.""", EXPORT)
defect("EVENT_LINK_NOT_NOTIFIED", ["NOTIF-01"], "an online event's link not pushed",
       """The notification of an event carries its place but not its `link`, so the parents of
       an online meeting or olympiad are told neither where nor how to join.""", EXPORT)
defect("NOTIFICATION_ONLY_200_DELIVERED", ["NOTIF-02"], "a 202 from the portal taken for a refusal",
       """The portal accepts a notification with 202; the journal counts only 200 as delivered,
       so it records every notification as refused (the parents got it) and, believing the
       portal never heard of the event, sends no change or cancellation of it later.""", EXPORT)
defect("EVENT_DELETION_NOT_PUSHED", ["NOTIF-02"], "a deleted event stays on the portal",
       """An event the school deletes in the journal (rather than marking it cancelled) is never
       announced as cancelled: the parents still see it at the portal and come to it.""", EXPORT)
defect("EVENTS_WHOLE_SCHOOL", ["NOTIF-01"], "every school event for every learner",
       """A learner's events are all events of the school, not those linked to the learner, so
       parents see other classes' meetings.""", JOURNAL, "reference_journal.diary")

# --- CRED: the journal's own login on the portal ---------------------------------------------

defect("LOGIN_OMITS_CHILDREN", ["CRED-01"], "child logins not handed over",
       """`GET /api/v1/me/login` gives the parent's own login but never the children's.""",
       JOURNAL, "reference_journal.api")
defect("LOGIN_FOR_ADULTS_ONLY", ["CRED-01"], "no login for a child signed in to the portal",
       """`GET /api/v1/me/login` answers adults only: a child under 14 signed in to «Моё
       образование» with their child account is told they are not linked, so they cannot
       enter the journal from the portal.""", JOURNAL, "reference_journal.api")
defect("LOGIN_BY_QUERY_OID", ["CRED-01", "CRED-02"], "debug parameter picks the user",
       """A debugging parameter `?oid=` left in `GET /api/v1/me/login` overrides `X-Esia-Oid`:
       any portal user obtains another user's login.""", JOURNAL, "reference_journal.api")
defect("PASSWORD_IN_LOGIN_ANSWER", ["CRED-02"], "initial password handed over",
       """The journal keeps the initial password in clear (to print it on letters) and adds it
       to the login answer as `password`.""", JOURNAL, "reference_journal.api")

# --- LOG: event journal ----------------------------------------------------------------------

defect("FAILED_SIGN_IN_NOT_LOGGED", ["LOG-01"], "failed sign-ins not logged",
       """Only successful sign-ins are written to the event log.""", JOURNAL,
       "reference_journal.web")
defect("CONSENT_NOT_LOGGED", ["LOG-01"], "consent not logged",
       """Consent notifications from the portal change the consent state without an event log
       record.""", JOURNAL, "reference_journal.api")
defect("ESIA_SIGN_IN_NOT_LOGGED", ["LOG-01"], "ЕСИА sign-ins not logged",
       """Sign-ins with the journal's own password are logged; sign-ins through ЕСИА open a
       session without a record.""", AUTH, "reference_journal.auth")
defect("ESIA_REFUSAL_NOT_LOGGED", ["LOG-01"], "a sign-in refused at ЕСИА not logged",
       """When the user refuses at ЕСИА (the callback brings `error=access_denied`), the journal
       shows its refusal page but writes no record; other failed sign-ins, with a password or
       through ЕСИА, are logged.""", AUTH, "reference_journal.auth")
defect("ANONYMOUS_ACTOR_EMPTY", ["LOG-01"], "no actor in records of unknown users",
       """A failed ЕСИА sign-in whose user the journal does not know (no trusted oid) is logged
       with an empty actor instead of `anonymous`; LOG-01 asks an actor of every record. Found
       by the fourth mutation sample.""", AUTH, "reference_journal.auth")
defect("AUTO_LINK_NOT_LOGGED", ["LOG-01"], "automatic ЕСИА linking not logged",
       """The link a first ЕСИА sign-in makes is stored without an event log record (manual
       linking and re-issue are still logged).""", AUTH, "reference_journal.auth")
defect("MARK_CHANGE_NOT_LOGGED", ["LOG-01"], "changes of marks not logged",
       """Teachers' changes of marks are not written to the event log; other school data is.""",
       JOURNAL, "reference_journal.web")
defect("UPLOAD_FAILURE_NOT_LOGGED", ["LOG-01"], "failed upload statuses not logged",
       """Only files that end in success are logged; a file the showcase failed or refused leaves
       no record, so the log shows every upload as successful.""", EXPORT, "reference_journal.export")
defect("CREDENTIAL_ISSUE_NOT_LOGGED", ["LOG-01"], "issued credentials not logged",
       """Issuing a login and password (a new account, a password set for a child) leaves no
       credential-issue record.""", JOURNAL, "reference_journal.web")
defect("LINK_STATE_NOT_CHECKED", ["AUTH-03"], "manual link keyed by browser, not state",
       """Sign-in callbacks check `state`; the callback of a manual link from the personal
       settings is matched to the browser's pending link by its cookie, whatever `state` it
       carries or lacks.""", AUTH, "reference_journal.auth")
defect("LOG_ESIA_CALLBACK", ["LOG-03"], "ЕСИА callback logged",
       """The sign-in record keeps the query of ЕСИА's callback for troubleshooting: the
       authorization code and the state, in clear.""", AUTH, "reference_journal.auth")
defect("REISSUE_UNLINK_NOT_LOGGED", ["LOG-01"], "re-link at 14 logs the new link only",
       """When a learner's ЕСИА account re-issued at 14 signs in, the learner's account is moved
       to the new oid in one update: the new link is logged, the end of the old oid's link is
       not (no unlink record, and the sign-in record does not say which oid was replaced).""", AUTH)
defect("LOG_PERIOD_IGNORED", ["LOG-02"], "auditor sees the last events only",
       """The auditor's endpoint ignores `from`/`to` and returns the 20 latest events.""",
       JOURNAL, "reference_journal.web")
defect("LOG_ATTEMPTED_PASSWORD", ["LOG-03"], "attempted password logged",
       """A failed sign-in records the password that was typed, "to help support".""",
       JOURNAL, "reference_journal.web")
defect("LOG_ESIA_TOKEN", ["LOG-03"], "ЕСИА tokens logged",
       """The ЕСИА callback writes the token response (access and id tokens) to the event
       log.""", AUTH)
defect("LOG_ESIA_REFRESH_TOKEN", ["LOG-03"], "ЕСИА refresh token logged",
       """The journal asks ЕСИА for offline access (`access_type=offline`, to refresh the
       person's data later) and its sign-in record keeps the refresh token "to revoke it at
       sign-out": an opaque value, not a JWT.""", AUTH)

# --- FREE: free software only ---------------------------------------------------------------

defect("NONFREE_COMPONENT", ["FREE-01"], "proprietary component in the SBOM",
       """The software bill of materials lists a proprietary ГОСТ cryptography provider
       (КриптоПро CSP) among the journal's components.""", JOURNAL, "reference_journal.sbom")
defect("SBOM_LICENCE_FROM_ANY_CLASSIFIER", ["FREE-01"], "the SBOM takes any classifier for a licence",
       """For a package that states its licence only in trove classifiers, the SBOM writer takes
       the first classifier, whatever it is: a component "licensed" under "OSI Approved: 5 -
       Production/Stable". What the components are licensed under is then not shown. Found by
       the sixth mutation sample.""", JOURNAL, "reference_journal.sbom")
defect("NONFREE_NESTED_COMPONENT", ["FREE-01"], "proprietary component nested in the SBOM",
       """The SBOM's top-level components are all free, but one of them carries a nested
       component (CycloneDX `components` inside a component): the bundled proprietary ГОСТ
       provider (КриптоПро CSP).""", JOURNAL, "reference_journal.sbom")


def render_markdown() -> str:
    """DEFECTS.md: the catalogue as a table per requirement area."""
    lines = [
        "# Defect catalogue of the reference journal",
        "",
        "Generated from `reference_journal/defects.py` (`ezhd reference-journal defects "
        "--format markdown`); do not edit by hand. Switch a defect on with `--defect ID` or "
        "`defects = [\"ID\"]` in the configuration. `journal` defects live in this package; "
        "`auth` and `export` defects belong to the ЕСИА sign-in and export slots and take effect "
        "once those slots are installed.",
        "",
    ]
    counts = {place: sum(d.implemented_in == place for d in CATALOGUE.values()) for place in PLACES}
    lines.append(f"{len(CATALOGUE)} defects: " + ", ".join(f"{n} in `{p}`" for p, n in counts.items()) + ".")
    areas: dict[str, list[Defect]] = {}
    for d in CATALOGUE.values():
        areas.setdefault(d.requirement_ids[0].split("-")[0], []).append(d)
    for area, items in areas.items():
        lines += ["", f"## {area}", "", "| id | requirements | where | what goes wrong |", "|---|---|---|---|"]
        for d in items:
            place = d.implemented_in + (f" (`{d.where}`)" if d.implemented_in == JOURNAL and d.where else "")
            needs = "".join(f" Shows with `{k} = {v}` (certify sets it)." for k, v in d.settings)
            lines.append(f"| `{d.id}` | {', '.join(d.requirement_ids)} | {place} | "
                         f"**{d.title}.** {d.description}{needs} |")
    return "\n".join(lines) + "\n"
