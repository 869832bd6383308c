"""Post a markdown file as a merge-request note (GitLab), with SCOWSPEC_NOTE_TOKEN; used by scowspec-ci.sh."""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def main(path: str) -> None:
    url = (
        f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}"
        f"/merge_requests/{os.environ['CI_MERGE_REQUEST_IID']}/notes"
    )
    with open(path, encoding="utf-8") as f:
        body = json.dumps({"body": f.read()}).encode()
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"PRIVATE-TOKEN": os.environ["SCOWSPEC_NOTE_TOKEN"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30):
        pass


if __name__ == "__main__":
    main(sys.argv[1])
