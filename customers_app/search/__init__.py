"""The dashboard's own search index of every customer in the Voucherify project (a room of its own).

Voucherify's list API matches whole emails and cities only; agents need fragments of names, emails,
phones and ids. This package keeps a small copy of just what search and the overview need, in the
dashboard's database, kept in step with Voucherify by background tasks within the API budget.
"""
