"""Tests of the public contract as an outside system sees it (AsyncAPI, a Node subscriber)."""
