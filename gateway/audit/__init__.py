"""The access log over HTTP: every declared read of a resident's data and every change to
a case recorded in one place (recorder.AccessLogMiddleware), and read by auditors
(controllers, and the console's access-log page)."""
