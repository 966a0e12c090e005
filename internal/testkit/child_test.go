package testkit

import (
	"os/exec"
	"testing"
	"time"
)

// TestChild talks to a shell line by line: an answer is found past other
// lines, and closing the input lets the child finish its last words.
func TestChild(t *testing.T) {
	c := StartChild(t, exec.Command("sh", "-c", `read l; echo noise; echo "got $l"; cat >/dev/null; echo "bye now"`))
	c.Send(t, "ping")
	if got := c.Expect(t, "got ", 5*time.Second); got != "ping" {
		t.Fatalf("Expect = %q, want ping", got)
	}
	c.CloseInput()
	if got := c.Expect(t, "bye", 5*time.Second); got != " now" {
		t.Fatalf("Expect = %q, want \" now\"", got)
	}
}
