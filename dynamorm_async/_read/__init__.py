"""The read path: query/scan plans, projections, pagers, page streams, cursors and the builders."""
