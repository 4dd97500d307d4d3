package main

import "testing"

// The Next of a stop repeats the run's own flags, in flag-name order,
// quoted for a shell, with --resume once at the end.
func TestResumeCommandRepeatsFlags(t *testing.T) {
	cmd := newRunCommand()
	err := cmd.ParseFlags([]string{
		"--plan", "plan.yaml", "--context", "prod", "--gitops", "./my tree",
		"--set", "SECRET_DOMAIN=example.com", "--set", "NOTE=it's", "--apply", "--resume",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "certwave run --apply --context prod --gitops './my tree' --plan plan.yaml " +
		"--set SECRET_DOMAIN=example.com --set 'NOTE=it'\\''s' --resume"
	if got := resumeCommand(cmd); got != want {
		t.Errorf("resumeCommand =\n %s\nwant\n %s", got, want)
	}
}

func TestResumeCommandWithoutFlags(t *testing.T) {
	cmd := newRunCommand()
	if err := cmd.ParseFlags([]string{"--apply=false"}); err != nil {
		t.Fatal(err)
	}
	if got, want := resumeCommand(cmd), "certwave run --apply=false --resume"; got != want {
		t.Errorf("resumeCommand = %s, want %s", got, want)
	}
}
