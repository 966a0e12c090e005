package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/meridian-traffic/meridian/api"
)

// heartbeatTimeout bounds one heartbeat request: a late heartbeat is
// worthless, the next one follows in a few seconds.
const heartbeatTimeout = 5 * time.Second

// SendHeartbeat posts hb to the director in use, signed with the PSK. When
// that director is unreachable or answers 5xx, the subscriber moves to the
// next one (see SubscriberConfig.Directors) and the heartbeat is sent there
// once more. A 410 Gone answer returns an error matching ErrRemoved.
// Heartbeat errors are not counted in Stats: sync health is about
// snapshots.
func (s *Subscriber) SendHeartbeat(ctx context.Context, hb *api.Heartbeat) error {
	body, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("encode heartbeat: %w", err)
	}
	err = s.heartbeat(ctx, body)
	if ctx.Err() == nil && len(s.bases) > 1 && switchOn(err) {
		// Only once: the next heartbeat follows in a few seconds, and the
		// long-poll moves on by itself as well.
		err = s.heartbeat(ctx, body)
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusGone {
		return fmt.Errorf("%w: %w", ErrRemoved, err)
	}
	return err
}

// heartbeat posts one heartbeat body to the director in use, within
// heartbeatTimeout; a director that fails it is left (see failover).
func (s *Subscriber) heartbeat(ctx context.Context, body []byte) error {
	at, base := s.director()
	rctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	_, _, err := s.do(rctx, http.MethodPost, endpoint(base, api.PathHeartbeat, nil), body)
	if err != nil && ctx.Err() == nil {
		// Also on rctx's deadline: a director that accepts but never
		// answers is as good as gone.
		s.failover(at, err)
	}
	return err
}
