import { defineHandler, type ConnectionContext } from '@echoplex/core'

const NAME = /^[A-Za-z0-9_-]{1,32}$/
const nameKey = (name: string): string => `chat:name:${name}`

async function leave (ctx: ConnectionContext): Promise<void> {
  const name = ctx.state.name as string | undefined
  if (name === undefined) return
  ctx.state.name = undefined
  // only our own claim is released: ifValue guards against deleting a name someone else took since
  await ctx.shared.delete(nameKey(name), ctx.id)
  ctx.broadcast(`${name} left\n`)
}

export const CHAT_GREETING = 'welcome to the chat: login NAME, then say TEXT; quit to leave\n'

/**
 * The seeds' chat room, server-wide in every model: names are unique through `ctx.shared`, and
 * messages reach clients served by other processes through `ctx.broadcast`.
 *   login NAME | say TEXT | quit   →  others see `NAME joined`, `NAME: TEXT`, `NAME left`
 * A new connection is greeted with the commands; the room's messages reach it only once logged in.
 */
export default defineHandler({
  name: 'chat',
  framing: 'line',
  onConnect (ctx) { ctx.send(CHAT_GREETING) },
  receivesBroadcast: (ctx) => ctx.state.name !== undefined,
  async onMessage (line, ctx) {
    const text = line.toString('utf8')
    const space = text.indexOf(' ')
    const command = space === -1 ? text : text.slice(0, space)
    const arg = space === -1 ? '' : text.slice(space + 1).trim()
    const name = ctx.state.name as string | undefined
    switch (command) {
      case 'login': {
        if (name !== undefined) return `error already logged in as ${name}\n`
        if (!NAME.test(arg)) return 'error name must be 1-32 letters, digits, _ or -\n'
        if (!await ctx.shared.setIfAbsent(nameKey(arg), ctx.id)) return `error name ${arg} is taken\n`
        ctx.state.name = arg
        ctx.broadcast(`${arg} joined\n`)
        return `ok welcome ${arg}\n`
      }
      case 'say':
        if (name === undefined) return 'error login first\n'
        ctx.broadcast(`${name}: ${arg}\n`)
        return 'ok\n'
      case 'quit':
        await leave(ctx)
        ctx.close()
        return 'ok bye\n'
      default:
        return `error unknown command ${JSON.stringify(command)} (login NAME, say TEXT, quit)\n`
    }
  },
  onClose: leave,
})
