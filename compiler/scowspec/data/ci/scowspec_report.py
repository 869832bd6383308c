"""Report jobs that finished since the last run (scowspec-ci.sh report, on a schedule); standard library only.

    python3 ci/scowspec_report.py STATUS_JSON [SCOWSPEC COMMAND...]

STATUS_JSON is `scowspec status -o json`. For each spec whose current job ended and was not reported yet (the job
ids reported are kept in $SCOWSPEC_REPORT_STATE, default .scowspec/reported.json, which the CI caches), it runs
`scowspec report` into $SCOWSPEC_REPORT_DIR (default scowspec-reports/: NAME-ID.md and NAME-ID.png) and posts the
markdown where the spec's last change was reviewed:
- GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL): the pull request of the commit that last changed the
  spec file, else that commit; also the step summary.
- GitLab (SCOWSPEC_NOTE_TOKEN, CI_PROJECT_ID, CI_API_V4_URL): the merge request of that commit, else the commit.
A comment carrying the job's marker is updated instead of posted again, so a lost state file never duplicates one.
A job whose report could not be made or posted stays unreported and is tried again next run; exit 1 then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ACTIVE = {"PENDING", "QUEUED", "RUNNING"}


def marker(job_id: int) -> str:
    return f"<!-- scowspec-report job={job_id} -->"


def finished_unreported(status: dict[str, Any], reported: set[int]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(spec, job) for each spec's current job that ended and was not reported."""
    out = []
    for spec in status.get("specs", []):
        for job in spec.get("jobs", []):
            if job.get("current") and str(job.get("state", "")).upper() not in ACTIVE and job["job_id"] not in reported:
                out.append((spec, job))
    return out


def api(method: str, url: str, token_header: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**token_header, "Content-Type": "application/json", "Accept": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def last_commit(path: str) -> str:
    proc = subprocess.run(["git", "log", "-1", "--format=%H", "--", path], capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def post_or_update(comments: str, edit: tuple[str, str], body: str, job_id: int, auth: dict[str, str]) -> str:
    """Edit the comment carrying the job's marker if there is one (`edit`: method and URL with {id}), else post
    one to `comments`; says which."""
    for comment in api("GET", comments, auth) or []:
        if marker(job_id) in str(comment.get("body") or ""):
            api(edit[0], edit[1].format(id=comment["id"]), auth, {"body": body})
            return "updated"
    api("POST", comments, auth, {"body": body})
    return "posted"


def post_github(body: str, sha: str, job_id: int) -> str:
    base = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repo = os.environ["GITHUB_REPOSITORY"]
    auth = {"Authorization": f"Bearer {os.environ['GITHUB_TOKEN']}"}
    pulls = api("GET", f"{base}/repos/{repo}/commits/{sha}/pulls", auth) or []
    if pulls:
        issue = f"{base}/repos/{repo}/issues/{pulls[0]['number']}/comments"
        done = post_or_update(issue, ("PATCH", f"{base}/repos/{repo}/issues/comments/{{id}}"), body, job_id, auth)
        return f"{done} on pull request #{pulls[0]['number']}"
    comments = f"{base}/repos/{repo}/commits/{sha}/comments"
    done = post_or_update(comments, ("PATCH", f"{base}/repos/{repo}/comments/{{id}}"), body, job_id, auth)
    return f"{done} on commit {sha[:12]}"


def post_gitlab(body: str, sha: str, job_id: int) -> str:
    base = f"{os.environ['CI_API_V4_URL'].rstrip('/')}/projects/{os.environ['CI_PROJECT_ID']}"
    auth = {"PRIVATE-TOKEN": os.environ["SCOWSPEC_NOTE_TOKEN"]}
    mrs = api("GET", f"{base}/repository/commits/{sha}/merge_requests", auth) or []
    if mrs:
        notes = f"{base}/merge_requests/{mrs[0]['iid']}/notes"
        done = post_or_update(notes, ("PUT", f"{notes}/{{id}}"), body, job_id, auth)
        return f"{done} on merge request !{mrs[0]['iid']}"
    api("POST", f"{base}/repository/commits/{sha}/comments", auth, {"note": body})
    return f"posted on commit {sha[:12]}"


def post(body: str, spec_file: str, job_id: int) -> str:
    sha = last_commit(spec_file)
    if os.environ.get("GITHUB_TOKEN") and os.environ.get("GITHUB_REPOSITORY") and sha:
        return post_github(body, sha, job_id)
    if os.environ.get("SCOWSPEC_NOTE_TOKEN") and os.environ.get("CI_PROJECT_ID") and sha:
        return post_gitlab(body, sha, job_id)
    return "not posted (no GitHub or GitLab token here)"


def main(status_path: str, command: list[str]) -> int:
    state = Path(os.environ.get("SCOWSPEC_REPORT_STATE", ".scowspec/reported.json"))
    out_dir = Path(os.environ.get("SCOWSPEC_REPORT_DIR", "scowspec-reports"))
    status = json.loads(Path(status_path).read_text("utf-8"))
    reported = set(json.loads(state.read_text("utf-8")).get("reported", [])) if state.exists() else set()
    todo = finished_unreported(status, reported)
    print(f"scowspec report: {len(todo)} job(s) finished since the last run")
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for spec, job in todo:
        stem = out_dir / f"{spec['spec']}-{job['job_id']}"
        made = subprocess.run(
            [*command, "report", spec["spec"], "--job", str(job["job_id"]), "--png", f"{stem}.png"],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            print(f"scowspec report: job {job['job_id']}: report failed: {made.stderr.strip()}", file=sys.stderr)
            failed += 1
            continue
        body = f"{marker(job['job_id'])}\n{made.stdout}"
        Path(f"{stem}.md").write_text(body, "utf-8")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(body + "\n")
        try:
            where = post(body, spec["file"], job["job_id"])
        except OSError as exc:  # urllib's errors included: tried again next run
            print(f"scowspec report: job {job['job_id']}: could not post: {exc}", file=sys.stderr)
            failed += 1
            continue
        reported.add(job["job_id"])
        print(f"scowspec report: job {job['job_id']} ({job['name']}, {job['state']}): {stem}.md, {where}")
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"reported": sorted(reported)}) + "\n", "utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:] or ["scowspec"]))
