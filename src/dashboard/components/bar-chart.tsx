/**
 * A bar per time bucket, drawn as inline SVG: no chart library for two small charts. The SVG
 * holds only the bars and grid and stretches to its box; the axis labels are HTML around it, so
 * they stay legible at any width. Screen readers get the summary (`description`); the mouse gets a
 * tooltip per bar.
 */
export interface Bar {
  /** `null`: no data for the bucket (no bar, unlike a zero). */
  value: number | null
  /** The tooltip: "14:05 — 305 completed". */
  label: string
}

interface BarChartProps {
  title: string
  testId: string
  bars: Bar[]
  /** The top of the scale, already rounded (see `niceMax`). */
  max: number
  formatValue: (value: number) => string
  /** What the chart says, in words: latest, peak, total. */
  description: string
  /** The x axis: labels spread evenly from left to right ("60m ago" … "now"). */
  axis: string[]
  tone?: 'neutral' | 'danger'
}

const HEIGHT = 100

export function BarChart({ title, testId, bars, max, formatValue, description, axis, tone = 'neutral' }: BarChartProps) {
  const width = Math.max(bars.length, 1)
  const scale = max > 0 ? HEIGHT / max : 0
  return (
    <figure class={`chart chart-${tone}`}>
      <figcaption class="chart-title">{title}</figcaption>
      <div class="chart-plot">
        <div class="chart-y" aria-hidden="true">
          <span>{formatValue(max)}</span>
          <span>{formatValue(max / 2)}</span>
          <span>{formatValue(0)}</span>
        </div>
        <svg
          class="chart-svg"
          data-testid={testId}
          role="img"
          aria-label={`${title}. ${description}`}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          preserveAspectRatio="none"
        >
          <line class="chart-grid" x1="0" x2={width} y1={HEIGHT / 2} y2={HEIGHT / 2} />
          <line class="chart-grid" x1="0" x2={width} y1="0" y2="0" />
          <line class="chart-axis" x1="0" x2={width} y1={HEIGHT} y2={HEIGHT} />
          {bars.map((bar, index) => {
            if (bar.value === null) return null
            // A bucket with something in it is never drawn flat: a sliver shows it is not empty.
            const height = bar.value > 0 ? Math.max(bar.value * scale, 1.5) : 0
            return (
              <g key={index} class="chart-bar">
                {/* The full-height hit area makes a short bar's tooltip easy to reach. */}
                <rect class="chart-hit" x={index} y={0} width={1} height={HEIGHT}>
                  <title>{bar.label}</title>
                </rect>
                <rect class="chart-fill" x={index + 0.12} y={HEIGHT - height} width={0.76} height={height} />
              </g>
            )
          })}
        </svg>
      </div>
      <div class="chart-x" aria-hidden="true">
        {axis.map((label) => (
          <span key={label}>{label}</span>
        ))}
      </div>
      <p class="chart-description">{description}</p>
    </figure>
  )
}
