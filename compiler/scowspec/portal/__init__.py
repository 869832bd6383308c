"""The HTTP edge: SCOW-AI's REST API (generation B) under `{portal_url}/api`."""
