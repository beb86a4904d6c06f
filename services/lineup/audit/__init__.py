"""The audit trail: records built and published for every public RPC (`emit`), and the append-only,
hash-chained segments the audit writer keeps in the object store."""
