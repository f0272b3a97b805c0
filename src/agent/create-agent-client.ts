import type { Logger } from 'pino'
import type { AgentConfig } from '../config.js'
import type { AgentClient } from '../domain/chat/agent.js'
import { ChatCompletionsClient } from './chat-completions-client.js'
import { OpenResponsesClient } from './openresponses-client.js'

/** The configured agent's client, or undefined when no agent is configured (Cabinet then answers chats itself). */
export function createAgentClient(config: AgentConfig, logger: Logger): AgentClient | undefined {
  if (!config.url) return undefined
  const options = { url: config.url, token: config.token, model: config.model, timeoutMs: config.timeoutMs }
  return config.protocol === 'chat-completions' ? new ChatCompletionsClient(options, logger) : new OpenResponsesClient(options, logger)
}
