package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/meridian-traffic/meridian/api"
)

// BGPWithdraw withdraws the named node's anycast prefixes (graceful
// shutdown first) until BGPResume; reason is shown by `ctl bgp`, "" means
// the director's default.
func (a *Admin) BGPWithdraw(ctx context.Context, node, reason string) (*api.ChangeResult, error) {
	body, err := json.Marshal(api.BGPWithdraw{Reason: reason})
	if err != nil {
		return nil, fmt.Errorf("bgp withdraw: encode request: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, nodePath(api.PathBGPWithdraw, node), nil, body, &out, h)
}

// BGPResume ends an operator's withdraw of the named node; its prefixes
// return after the speaker's hold-down.
func (a *Admin) BGPResume(ctx context.Context, node string) (*api.ChangeResult, error) {
	var out api.ChangeResult
	return &out, a.call(ctx, http.MethodPost, nodePath(api.PathBGPResume, node), nil, []byte{}, &out)
}
