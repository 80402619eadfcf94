//! Renders plans and journal events: terminal progress, JSON lines, HTML.
