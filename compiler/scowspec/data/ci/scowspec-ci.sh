#!/usr/bin/env bash
# The one script every CI runs (GitHub Actions, GitLab CI, a git post-receive hook), so what CI does can be
# run and tested anywhere:
#   bash ci/scowspec-ci.sh plan    pull/merge request: validate (annotations on the right lines), then plan;
#                                  the markdown plan goes to $SCOWSPEC_PLAN_MD and the GitHub step summary
#   bash ci/scowspec-ci.sh apply   push to the main branch: validate, apply --yes, then status
#   bash ci/scowspec-ci.sh install [report]
#                                  install scowspec with pip: what ci/requirements.txt names (a lab's specs-only
#                                  repository; `scowspec init --ci` writes it), else this checkout (scowspec's own);
#                                  `report` adds matplotlib, which `scowspec report --png` draws with
#   bash ci/scowspec-ci.sh report  on a schedule: the report (loss, verify verdict) of each spec's job that
#                                  finished since the last run, posted on the pull/merge request of the spec's
#                                  last change (ci/scowspec_report.py; SCOWSPEC_REPORT_STATE remembers the jobs)
# Environment: SCOWSPEC_TOKEN (from the CI's secret store; never echoed), SCOWSPEC_PORTAL_URL (or portal_url in
# scowspec.yaml), SCOWSPEC (the command, default `scowspec`), SCOWSPEC_SPECS (default `specs`),
# SCOWSPEC_PLAN_MD (default scowspec-plan.md), SCOWSPEC_PLAN_FILE (default scowspec-plan.json).
# Prune (cancelling jobs of removed specs) is switched on by `prune: true` in scowspec.yaml, not here.
# Exit status: scowspec's own (0 ok, 3 invalid spec, 4 refused, 5 partly applied, ...).
set -uo pipefail
mode=${1:-}
read -r -a SCOWSPEC <<< "${SCOWSPEC:-scowspec}"
specs=${SCOWSPEC_SPECS:-specs}
plan_md=${SCOWSPEC_PLAN_MD:-scowspec-plan.md}
plan_file=${SCOWSPEC_PLAN_FILE:-scowspec-plan.json}

case $mode in plan|apply|install|report) ;; *) echo "usage: $0 plan|apply|install|report" >&2; exit 64 ;; esac

if [ "$mode" = install ]; then
  python=${PYTHON:-python3}
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "scowspec: needs Python >= 3.11; $python is $("$python" -V 2>&1)" >&2
    exit 64
  fi
  extra=${2:-}  # `install report`: also what `scowspec report --png` draws with (the `report` extra)
  if [ -f ci/requirements.txt ]; then
    "$python" -m pip install --quiet -r ci/requirements.txt || exit
    [ "$extra" = report ] && exec "$python" -m pip install --quiet "matplotlib>=3.5"
    exit 0
  elif grep -qs '^name = "scowspec"' pyproject.toml; then
    exec "$python" -m pip install --quiet ".${extra:+[$extra]}"
  fi
  echo "scowspec: no ci/requirements.txt naming where to install scowspec from (scowspec init --ci writes it)" >&2
  exit 64
fi

format=text
[ -n "${GITHUB_ACTIONS:-}" ] && format=github
"${SCOWSPEC[@]}" validate -o "$format" "$specs"
rc=$?
if [ -n "${GITLAB_CI:-}" ]; then
  "${SCOWSPEC[@]}" validate -o codequality "$specs" > gl-code-quality-report.json
fi
if [ "$rc" -ne 0 ]; then
  echo "scowspec: the specs are invalid (exit $rc): nothing was planned or applied." >&2
  exit "$rc"
fi

if [ "$mode" = plan ]; then
  "${SCOWSPEC[@]}" plan -o markdown --out "$plan_file" "$specs" > "$plan_md"
  rc=$?
  cat "$plan_md"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$plan_md" >> "$GITHUB_STEP_SUMMARY"; fi
  if [ -n "${GITLAB_CI:-}" ] && [ -n "${SCOWSPEC_NOTE_TOKEN:-}" ] && [ -n "${CI_MERGE_REQUEST_IID:-}" ]; then
    python3 "$(dirname "$0")/gitlab_note.py" "$plan_md" || echo "scowspec: could not post the plan as a note" >&2
  fi
  exit "$rc"
fi

if [ "$mode" = report ]; then
  status_json=${SCOWSPEC_STATUS_JSON:-scowspec-status.json}
  "${SCOWSPEC[@]}" status -o json "$specs" > "$status_json"
  rc=$?
  if [ "$rc" -ne 0 ]; then echo "scowspec: status failed (exit $rc): nothing was reported." >&2; exit "$rc"; fi
  python3 "$(dirname "$0")/scowspec_report.py" "$status_json" "${SCOWSPEC[@]}"
  exit $?
fi

"${SCOWSPEC[@]}" apply --yes "$specs"
rc=$?
"${SCOWSPEC[@]}" status "$specs" || true
exit "$rc"
