"""Stage 5, plan: desired jobs (compiled specs) + the portal's jobs → a Plan value."""
