import { formatJson } from '../format'
import { dismissError, dismissNote, useNotices } from '../notices'

/** The error banner (role="alert", dismissable) and the note of what an action did (role="status"). */
export function Banner() {
  const { error, note } = useNotices()
  return (
    <div class="banners">
      {error && (
        <div class="banner banner-error" role="alert" data-testid="error-banner">
          <div class="banner-text">
            <strong>{error.title}.</strong> <span class="banner-message">{error.message}</span>
            {error.code && <code class="banner-code">{error.code}</code>}
            {error.details && (
              <details class="banner-details">
                <summary>Details</summary>
                <pre>{formatJson(error.details)}</pre>
              </details>
            )}
          </div>
          <button type="button" class="icon-button" aria-label="Dismiss the error" title="Dismiss" onClick={dismissError}>
            ×
          </button>
        </div>
      )}
      <div role="status" class="status-region">
        {note && (
          <div class="banner banner-note">
            <div class="banner-text">{note}</div>
            <button type="button" class="icon-button" aria-label="Dismiss the message" title="Dismiss" onClick={dismissNote}>
              ×
            </button>
          </div>
        )}
      </div>
    </div>
  )
}
