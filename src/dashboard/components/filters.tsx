import { useEffect, useRef, useState } from 'preact/hooks'
import { api } from '../api'
import { useLoader } from '../hooks'
import type { QueuesAnswer } from '../types'

/** How long typing pauses before a text filter applies. */
const TYPING_MS = 400

interface QueueSelectProps {
  value: string | undefined
  onChange: (queue: string) => void
  testId?: string
}

/** "Any queue" or one of the queues the server knows (and the current one, even if it knows it not). */
export function QueueSelect({ value, onChange, testId }: QueueSelectProps) {
  const queues = useLoader((signal) => api<QueuesAnswer>('GET', '/v1/queues', undefined, { signal }), [], { what: 'Could not load the queue names' })
  const names = queues.data?.queues.map((queue) => queue.queue) ?? []
  if (value && !names.includes(value)) names.push(value)
  return (
    <label>
      <span class="label">Queue</span>
      <select data-testid={testId} value={value ?? ''} onChange={(event) => onChange((event.target as HTMLSelectElement).value)}>
        <option value="">Any queue</option>
        {names.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  )
}

interface TextFilterProps {
  label: string
  value: string | undefined
  /** Called with the trimmed text after a pause in typing, on Enter and on leaving the field. */
  onChange: (value: string) => void
  placeholder: string
  testId?: string
}

/** A text filter that applies as you type (after a pause), without a submit button. */
export function TextFilter({ label, value, onChange, placeholder, testId }: TextFilterProps) {
  const [text, setText] = useState(value ?? '')
  useEffect(() => setText(value ?? ''), [value])
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  useEffect(() => () => clearTimeout(timer.current), [])
  const apply = (next: string): void => {
    clearTimeout(timer.current)
    if (next.trim() !== (value ?? '')) onChange(next.trim())
  }
  return (
    <label>
      <span class="label">{label}</span>
      <input
        type="text"
        data-testid={testId}
        value={text}
        placeholder={placeholder}
        spellcheck={false}
        autocomplete="off"
        onInput={(event) => {
          const next = (event.target as HTMLInputElement).value
          setText(next)
          clearTimeout(timer.current)
          timer.current = setTimeout(() => apply(next), TYPING_MS)
        }}
        onKeyDown={(event) => {
          if (event.key === 'Enter') apply((event.target as HTMLInputElement).value)
        }}
        onBlur={(event) => apply((event.target as HTMLInputElement).value)}
      />
    </label>
  )
}
