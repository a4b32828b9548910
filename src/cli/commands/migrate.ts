import { withOffload, type Command } from '../command.js'

export const migrateCommand: Command = {
  name: 'migrate',
  usage: 'migrate',
  summary: 'apply pending database migrations',
  description:
    'Brings the store\'s schema up to date. Every other command migrates on first use too; run this\n' +
    'in a deploy step to do it ahead of time. Safe to run from many processes at once.',
  options: {},
  positionals: { min: 0, max: 0 },
  examples: ['offload migrate', 'offload migrate --store sqlite:/var/lib/app/offload.db --json'],
  async run({ out, storeUrl }) {
    return withOffload(storeUrl, { migrate: false }, async (offload, store) => {
      if (!out.json) out.note(`migrating ${store.description} …`)
      const { applied, version } = await offload.migrate()
      if (out.json) out.data({ store: store.description, applied, version })
      else if (applied.length === 0) out.line(`${store.description} is up to date: schema version ${version}`)
      else out.line(`applied migration${applied.length === 1 ? '' : 's'} ${applied.join(', ')}: ${store.description} is at schema version ${version}`)
      return 0
    })
  },
}
