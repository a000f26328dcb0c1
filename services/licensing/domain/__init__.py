"""Licensing's aggregates: what it knows of NGOs, applications with their inquiries, licences."""
