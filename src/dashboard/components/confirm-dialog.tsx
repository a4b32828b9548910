import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'

interface ConfirmDialogProps {
  title: string
  children: ComponentChildren
  /** The confirming button's label, saying what it does: "Delete 12 jobs". */
  confirmLabel: string
  /** Red confirming button, for what cannot be undone. */
  danger?: boolean
  /** Runs the action; the dialog shows it is working until this settles, then the caller closes it. */
  onConfirm: () => Promise<void> | void
  onCancel: () => void
}

/**
 * The confirm step before bulk and irreversible actions: a modal `<dialog>`, so focus stays
 * inside it, Escape cancels, and focus returns to the button that opened it. Focus starts on
 * Cancel: Enter alone never confirms a destructive action.
 */
export function ConfirmDialog({ title, children, confirmLabel, danger = false, onConfirm, onCancel }: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    const element = dialog.current
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined
    if (element && !element.open) element.showModal()
    return () => {
      element?.close()
      // Back where the user was; if that button is gone or disabled now (nothing left selected), to the page's heading.
      if (opener?.isConnected && !opener.matches(':disabled')) opener.focus()
      else document.querySelector<HTMLElement>('main h1')?.focus()
    }
  }, [])
  const confirm = async (): Promise<void> => {
    setBusy(true)
    try {
      await onConfirm()
    } finally {
      setBusy(false)
    }
  }
  return (
    <dialog
      ref={dialog}
      class="dialog"
      aria-labelledby="confirm-title"
      onCancel={(event) => {
        event.preventDefault()
        if (!busy) onCancel()
      }}
    >
      <h2 id="confirm-title">{title}</h2>
      <div class="dialog-body">{children}</div>
      <div class="dialog-actions">
        <button type="button" class="button" onClick={onCancel} disabled={busy} autofocus>
          Cancel
        </button>
        <button type="button" class={danger ? 'button button-danger' : 'button button-primary'} data-testid="confirm-yes" onClick={() => void confirm()} disabled={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  )
}
