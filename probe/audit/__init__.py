"""Provider audits, pure: canary prompts (`canaries`), model names (`names`), the audit plan (`plan`) and the four
score groups (`scoring`). `probe.auditing` is the I/O shell that sends audit requests and reads evidence for reports.
"""
