"""Reports over stored usage: periods, aggregations (raw events plus daily rollups),
the ESG export and right-sizing (what-if) figures. Shared by the HTTP API and the CLI."""
