package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/meridian-traffic/meridian/director/api"
)

// heartbeatTimeout bounds one heartbeat request: a late heartbeat is
// worthless, the next one follows in a few seconds.
const heartbeatTimeout = 5 * time.Second

// SendHeartbeat posts hb to the director, signed with the PSK. A 410 Gone
// answer returns an error matching ErrRemoved. Heartbeat errors are not
// counted in Stats: sync health is about snapshots.
func (s *Subscriber) SendHeartbeat(ctx context.Context, hb *api.Heartbeat) error {
	body, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	_, _, err = s.do(ctx, http.MethodPost, endpoint(s.base, api.PathHeartbeat, nil), body)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusGone {
		return fmt.Errorf("%w: %w", ErrRemoved, err)
	}
	return err
}
