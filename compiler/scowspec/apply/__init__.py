"""Stage 6, apply: run a Plan against the portal, exactly, safely, and say what happened."""
