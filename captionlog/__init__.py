"""The caption log: every final caption, durable, for accessibility reviewers."""
