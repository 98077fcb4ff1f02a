"""The in-app notification feed: what happened to my work, as rows per person (issue 15)."""
