"""Lead CSV import: parse any reasonable spreadsheet export with pandas, normalise, merge in bulk.

A file is refused whole (CsvRefused, nothing written) when it cannot be a lead CSV: empty, binary,
too large, without a phone column, or with more attribute columns (or longer headers) than a lead
may hold. Otherwise every row is either merged into the user's leads (new phones inserted,
existing leads updated, niches merged) or reported with its line and reason, e.g. a cell longer
than dripfleet.lead_limits allows.
Rows are prepared and merged in chunks (COPY into a stage, then one statement that updates the
existing leads and inserts the rest in phone order) while the next chunk is prepared.
"""

import csv
import io
import json
import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from dripfleet import niches as niche_rules
from dripfleet.lead_limits import (
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTE_NAME_CHARS,
    MAX_ATTRIBUTES,
    MAX_NAME_CHARS,
    MAX_NICHE_CHARS,
)
from dripfleet.phones import try_normalize_phones
from dripfleet.stores import devices, leads

__all__ = ["CsvRefused", "ImportReport", "export_leads_csv", "import_leads",
           "normalize_phones", "read_lead_csv"]

TARGET_STATUSES = ("prospect", "customer")
MAX_REPORTED_REJECTIONS = 1000
# rows prepared and merged per chunk: big enough for bulk statements, small enough to overlap;
# the first chunk is smaller so that the database starts early
CHUNK_ROWS = 200_000
FIRST_CHUNK_ROWS = 50_000
MERGES_AHEAD = 2  # prepared chunks that may wait for the database
# canonical column -> accepted header spellings (lower case, spaces/dashes as "_")
ALIASES = {
    "phone": ("phone", "mobile", "number", "whatsapp", "phone_number", "mobile_number",
              "whatsapp_number", "tel", "telephone"),
    "name": ("name", "full_name", "fullname"),
    "niche": ("niche", "niches", "tags", "tag"),
    "target_status": ("target_status", "status"),
    "device_id": ("device_id",),
}
EXPORT_COLUMNS = ["name", "phone", "niche", "target_status", "device_id"]
_HEADER_SPACES = re.compile(r"[\s\-]+")
_BINARY_MAGIC = (b"PK\x03\x04", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\xd0\xcf\x11\xe0",
                 b"\x1f\x8b", b"7z\xbc\xaf")
_BAD_LINE = re.compile(r"Skipping line (\d+): (.*)")


class CsvRefused(ValueError):
    """The whole file is refused; `status` is 400 (not a lead CSV), 413 (too large) or 415."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_merged: int = 0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return dict(self.__dict__)


# --- reading ------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    head = data[:65536]
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        raise CsvRefused(415, "this is a binary file, not a CSV (save the sheet as CSV, UTF-8)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # every byte is a Latin-1 character: the usual fallback
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    if controls > max(2, len(sample) // 100):
        raise CsvRefused(415, "this file holds control characters: not a CSV text file")
    return text


def _delimiter(first_line: str) -> str:
    counts = {sep: 0 for sep in (",", ";", "\t")}
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best


def _canonical_columns(headers: list[str]) -> dict[str, str]:
    """canonical name -> header as written (first matching column wins)."""
    found: dict[str, str] = {}
    for header in headers:
        key = _HEADER_SPACES.sub("_", str(header).strip().lower()).strip("_")
        for canonical, spellings in ALIASES.items():
            if key in spellings and canonical not in found:
                found[canonical] = header
                break
    return found


def _row_numbers(rows: int, skipped: list[int]) -> pd.Index:
    """The spreadsheet row of each parsed row: the header is row 1, a cell spanning several
    lines stays one row, and rows pandas skipped as malformed (`skipped`, numbered the same
    way) keep their numbers, so the rows after them are not shifted."""
    candidates = np.arange(2, 2 + rows + len(skipped))
    kept = np.setdiff1d(candidates, np.array(skipped, dtype=candidates.dtype))[:rows]
    if len(kept) != rows:  # a skipped number outside the file: fall back to plain counting
        kept = np.arange(2, 2 + rows)
    return pd.Index(kept, name="row")


def read_lead_csv(data: bytes) -> tuple[pd.DataFrame, dict[str, str], list[dict[str, Any]]]:
    """Parse bytes into a frame of strings: (frame, canonical columns, malformed lines)."""
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise CsvRefused(400, "the file is empty")
    text = _decode(data)
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                io.StringIO(text), sep=_delimiter(first_line), dtype=str, keep_default_na=False,
                na_filter=False, skip_blank_lines=False, on_bad_lines="warn", engine="c",
                index_col=False,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
            raise CsvRefused(400, f"not a readable CSV: {str(error).splitlines()[0]}") from None
    bad_lines = []
    for warning in caught:
        for match in _BAD_LINE.finditer(str(warning.message)):
            bad_lines.append({"line": int(match.group(1)), "phone": "",
                              "reason": f"malformed line: {match.group(2).strip()}"})
    frame.index = _row_numbers(len(frame), [b["line"] for b in bad_lines])
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    columns = _canonical_columns(list(frame.columns))
    if "phone" not in columns:
        shown = ", ".join(list(frame.columns)[:10]) or "none"
        raise CsvRefused(400, f"no phone column (accepted headers: phone, mobile, number, "
                              f"whatsapp); found: {shown}")
    _check_attribute_columns([c for c in frame.columns if c not in set(columns.values())])
    if not len(frame) or (frame == "").all(axis=1).all():
        raise CsvRefused(400, "the file has a header but no rows")
    return frame, columns, bad_lines


def _check_attribute_columns(headers: list[str]) -> None:
    """Every other column is a lead attribute: no more of them, nor longer names, than the API
    allows (a cap per file: a row cannot be blamed for the header)."""
    if len(headers) > MAX_ATTRIBUTES:
        raise CsvRefused(400, f"the file has {len(headers)} columns besides phone, name, niche, "
                              f"target_status and device_id; a lead holds at most "
                              f"{MAX_ATTRIBUTES} attributes")
    for header in headers:
        if len(header.strip()) > MAX_ATTRIBUTE_NAME_CHARS:
            raise CsvRefused(400, f"the column header {header[:40]!r}... is longer than "
                                  f"{MAX_ATTRIBUTE_NAME_CHARS} characters")


# --- phones ------------------------------------------------------------------------------------


def normalize_phones(values: pd.Series, region: str) -> tuple[np.ndarray, np.ndarray]:
    """E.164 phone (or None) and reason (or None) per value, each distinct value worked once
    by dripfleet.phones (the one phone rule)."""
    codes, uniques = pd.factorize(values, sort=False)
    if len(codes) == 0:
        return np.array([], dtype=object), np.array([], dtype=object)
    raw = pd.Series(uniques, dtype=object).astype(str)
    phones, reasons = try_normalize_phones(raw.tolist(), region)
    return np.array(phones, dtype=object)[codes], np.array(reasons, dtype=object)[codes]


# --- preparing rows -----------------------------------------------------------------------------


def _niches_column(values: pd.Series, extra: list[str]) -> tuple[pd.Series, pd.Series]:
    """Normalised tags joined by ',' (a tag never contains ','), per distinct cell; and which
    rows hold a tag longer than MAX_NICHE_CHARS."""
    codes, uniques = pd.factorize(values, sort=False)
    if len(uniques) == 0:
        return (pd.Series([",".join(extra)] * len(values), index=values.index, dtype=object),
                pd.Series(False, index=values.index))
    tags = [niche_rules.merge_niches(u, extra) for u in uniques]
    joined = np.array([",".join(t) for t in tags], dtype=object)
    too_long = np.array([any(len(tag) > MAX_NICHE_CHARS for tag in t) for t in tags])
    return (pd.Series(joined[codes], index=values.index, dtype=object),
            pd.Series(too_long[codes], index=values.index))


def _merge_json(first: str, second: str) -> str:
    if not first or not second:
        return first or second
    return json.dumps({**json.loads(first), **json.loads(second)}, ensure_ascii=False)


def _merge_duplicates(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per phone: later non-empty values win, niches and attributes are unions."""
    dup_mask = rows["phone"].duplicated(keep=False)
    if not dup_mask.any():
        return rows, 0
    single = rows[~dup_mask]
    merged: dict[str, dict[str, Any]] = {}
    for row in rows[dup_mask].to_dict("records"):
        into = merged.get(row["phone"])
        if into is None:
            merged[row["phone"]] = dict(row)
            continue
        for key in ("name", "target_status", "preferred_device_id"):
            if row[key] not in ("", None) and not (isinstance(row[key], float)
                                                   and np.isnan(row[key])):
                into[key] = row[key]
        into["niches"] = ",".join(niche_rules.merge_niches(into["niches"], row["niches"]))
        into["attributes"] = _merge_json(into["attributes"], row["attributes"])
    folded = pd.DataFrame(list(merged.values()), columns=rows.columns)
    removed = int(dup_mask.sum()) - len(merged)
    return pd.concat([single, folded], ignore_index=True), removed


def _attributes(frame: pd.DataFrame, extra_columns: list[str]) -> tuple[pd.Series, pd.Series]:
    """Extra columns as JSON objects (non-empty cells only), one json.dumps per distinct row;
    and, per row, the reason it is refused (a value longer than MAX_ATTRIBUTE_CHARS) or None."""
    if not extra_columns:
        return (pd.Series("", index=frame.index, dtype=object),
                pd.Series(None, index=frame.index, dtype=object))
    extra = frame[extra_columns].apply(lambda column: column.str.strip())
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(extra), sort=False)
    names = [str(c).strip() for c in extra_columns]
    encoded = np.array([
        json.dumps({n: v for n, v in zip(names, values, strict=True) if v}, ensure_ascii=False)
        for values in uniques
    ], dtype=object)
    reasons = np.full(len(encoded), None, dtype=object)
    # a JSON object is longer than each of its values: only the long objects are looked into
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    for index in np.flatnonzero(lengths > MAX_ATTRIBUTE_CHARS):
        for name, value in zip(names, uniques[index], strict=True):
            if len(value) > MAX_ATTRIBUTE_CHARS:
                reasons[index] = (f"column {name!r} is longer than {MAX_ATTRIBUTE_CHARS:,} "
                                  "characters")
                break
    encoded[encoded == "{}"] = ""
    return (pd.Series(encoded[codes], index=frame.index, dtype=object),
            pd.Series(reasons[codes], index=frame.index, dtype=object))


def _longer_than(values: pd.Series, limit: int) -> pd.Series:
    """Which cells are longer than `limit` (map(len) is several times faster than .str.len)."""
    lengths = np.fromiter(map(len, values.to_numpy()), dtype=np.int64, count=len(values))
    return pd.Series(lengths > limit, index=values.index)


def prepare(frame: pd.DataFrame, columns: dict[str, str], region: str, extra_niches: list[str],
            device_ids: set[int]) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """Normalise every row: (good rows, rejected rows, duplicates merged)."""
    lines = pd.Series(frame.index.to_numpy(), index=frame.index)  # spreadsheet rows
    blank = (frame == "").all(axis=1)
    frame, lines = frame[~blank], lines[~blank]
    raw_phone = frame[columns["phone"]]
    phones, reasons = normalize_phones(raw_phone, region)
    out = pd.DataFrame(index=frame.index)
    out["phone"] = phones
    out["name"] = frame[columns["name"]].str.strip() if "name" in columns else ""
    long_name = (_longer_than(out["name"], MAX_NAME_CHARS) if "name" in columns
                 else pd.Series(False, index=out.index))
    if "niche" in columns:
        out["niches"], long_niche = _niches_column(frame[columns["niche"]], extra_niches)
    else:
        out["niches"], long_niche = ",".join(extra_niches), pd.Series(False, index=out.index)
    status = (frame[columns["target_status"]].str.strip().str.lower()
              if "target_status" in columns else pd.Series("", index=frame.index))
    out["target_status"] = status
    if "device_id" in columns:
        device = pd.to_numeric(frame[columns["device_id"]].str.strip(), errors="coerce")
        out["preferred_device_id"] = device.where(device.isin(list(device_ids)))
    else:
        out["preferred_device_id"] = np.nan
    used = set(columns.values())
    out["attributes"], long_attribute = _attributes(
        frame, [c for c in frame.columns if c not in used])

    bad_status = ~status.isin(("",) + TARGET_STATUSES)
    bad_phone = pd.isna(out["phone"])
    rejected_mask = bad_phone | bad_status | long_name | long_niche | long_attribute.notna()
    rejected: list[dict[str, Any]] = []
    if rejected_mask.any():
        for index in out.index[rejected_mask]:
            if bad_phone[index]:
                reason = f"invalid phone number: {reasons[out.index.get_loc(index)]}"
            elif bad_status[index]:
                reason = "target_status must be prospect or customer"
            elif long_name[index]:
                reason = f"name is longer than {MAX_NAME_CHARS} characters"
            elif long_niche[index]:
                reason = f"a niche tag is longer than {MAX_NICHE_CHARS} characters"
            else:
                reason = long_attribute[index]
            rejected.append({"line": int(lines[index]), "phone": str(raw_phone[index])[:64],
                             "reason": reason})
    good, merged = _merge_duplicates(out[~rejected_mask].reset_index(drop=True))
    return good, rejected, merged


def _copy_payload(rows: pd.DataFrame) -> bytes:
    """The COPY (FORMAT csv) body: phone, name, niches, target_status, device id, attributes."""
    staged = pd.DataFrame({
        "phone": rows["phone"],
        "name": rows["name"],
        "niches": rows["niches"],
        "target_status": rows["target_status"],
        "preferred_device_id": rows["preferred_device_id"].astype("Int64"),
        "attributes": rows["attributes"],
    })
    return staged.to_csv(header=False, index=False, quoting=csv.QUOTE_MINIMAL,
                         lineterminator="\n").encode("utf-8")


def import_leads(conn: Connection, user_id: int, data: bytes, *, region: str,
                 niche: str | None = None, target_status: str | None = None,
                 max_bytes: int | None = None) -> ImportReport:
    """Import a lead CSV for user_id in the caller's transaction; CsvRefused writes nothing.

    Rows are prepared (phones normalised, duplicates merged) chunk by chunk, and each chunk is
    merged by one worker thread on the caller's connection while the next chunk is prepared:
    the database and Python work at the same time. Only that thread touches `conn` until the
    import returns or raises. A phone repeated in a later chunk updates the lead its first row
    wrote, which gives the same leads as merging the rows first; the report counts that lead
    by its first row (inserted, updated or unchanged).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise CsvRefused(413, f"the file is larger than {max_bytes // (1024 * 1024)} MB")
    frame, columns, bad_lines = read_lead_csv(data)
    extra = niche_rules.normalize_niches(niche) if niche else []
    device_ids: set[int] = set()
    if "device_id" in columns:
        candidates = pd.to_numeric(frame[columns["device_id"]].str.strip(), errors="coerce")
        wanted = [int(v) for v in candidates.dropna().unique() if 0 < v < 2**63]
        device_ids = devices.owned_ids(conn, user_id, wanted) if wanted else set()
    report = ImportReport(columns=columns)
    rejected: list[dict[str, Any]] = list(bad_lines)
    default_status = target_status or "prospect"
    seen: set[str] = set()
    had_leads: bool | None = None  # known once the import lock is held
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lead-import") as writer:
        pending: list[Future] = []
        for start, stop in _chunks(len(frame)):
            good, chunk_rejected, merged = prepare(
                frame.iloc[start:stop], columns, region, extra, device_ids)
            rejected += chunk_rejected
            # a phone already merged by an earlier chunk is a duplicate within the file: it
            # updates the lead that chunk wrote and is not counted again
            again = good["phone"].isin(seen).to_numpy()
            seen.update(good["phone"].tolist())
            report.duplicates_merged += merged + int(again.sum())
            report.rows += len(good) + merged + len(chunk_rejected)
            if had_leads is None:
                had_leads = leads.begin_import(conn, user_id)
            # first rows of their phone: leads only if the user had any; repeats: always
            # the CSV payload is built here, so that the writer thread only waits on the database
            for rows, first in ((good[~again], True), (good[again], False)):
                if len(rows):
                    pending.append(writer.submit(
                        _merge_chunk, conn, user_id, _copy_payload(rows), len(rows),
                        default_status, first, had_leads or not first))
            _drain(pending, report, keep=MERGES_AHEAD)
        _drain(pending, report, keep=0)
    report.rows += len(bad_lines)
    rejected.sort(key=lambda r: r["line"])
    report.rejected_count = len(rejected)
    report.rejected = rejected[:MAX_REPORTED_REJECTIONS]
    return report


def _chunks(rows: int) -> list[tuple[int, int]]:
    bounds = [0, *range(min(FIRST_CHUNK_ROWS, rows), rows, CHUNK_ROWS), rows]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _merge_chunk(conn: Connection, user_id: int, payload: bytes, rows: int, default_status: str,
                 counted: bool, may_exist: bool) -> tuple[int, int, int] | None:
    inserted, updated = leads.merge_import(conn, user_id, payload, default_status,
                                           may_exist=may_exist)
    return (inserted, updated, rows - inserted - updated) if counted else None


def _drain(pending: list[Future], report: ImportReport, keep: int) -> None:
    """Collect merges in order (a failed one raises here): every finished one, and wait for
    the oldest until at most `keep` are left, so prepared chunks do not pile up in memory."""
    while pending and (len(pending) > keep or pending[0].done()):
        counts = pending.pop(0).result()
        if counts is not None:
            report.inserted += counts[0]
            report.updated += counts[1]
            report.unchanged += counts[2]


# --- export -------------------------------------------------------------------------------------


def export_leads_csv(conn: Connection, user_id: int) -> str:
    """The user's leads as CSV: the seed's columns, then one column per attribute."""
    rows = [dict(r) for r in leads.export_rows(conn, user_id)]
    keys = sorted({key for r in rows for key in r["attributes"]} - set(EXPORT_COLUMNS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS + keys)
    for r in rows:
        writer.writerow([r["name"], r["phone"], ",".join(r["niches"]), r["target_status"],
                         r["preferred_device_id"] or ""]
                        + [_cell(r["attributes"].get(key)) for key in keys])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
