"""What people see of a call's footprint, and whose it is.

- `annotation`: the one-line footprint appended to an answer, and when not to add it;
- `languages`: its words, per language;
- `conversations`: which conversation a request belongs to (header, Responses chains);
- `conversation_totals`: running totals per conversation, cheap enough for the request path;
- `end_users`: who a call was made for, stored hashed by default.
"""
