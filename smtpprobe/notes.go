package smtpprobe

// fromNotes judges facts recognised in pasted text that have no place in
// the dialogue (explain). Replies found in text are judged by the same
// rules as replies seen on the wire, through Auth.Final.
func (j *judgement) fromNotes() (Verdict, string, bool) {
	return "", "", false
}
