"""Aggregation: aggregate functions, HAVING, the accumulator and the GroupBy builders."""
