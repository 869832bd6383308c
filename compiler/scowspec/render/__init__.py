"""Views: text, JSON, markdown and CI annotations, kept apart from the logic they show."""

from __future__ import annotations

import enum

FORMAT_VERSION = "1.0"


class Output(enum.Enum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    GITHUB = "github"
    CODEQUALITY = "codequality"  # GitLab code-quality report (validate only)
