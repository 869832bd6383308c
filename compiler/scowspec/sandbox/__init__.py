"""A local SCOW-AI-compatible portal for trying the whole loop, and for the tests."""
