"""Reply drafting helpers: template placeholders."""
