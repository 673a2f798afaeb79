// The JSON contract between afnio_widgets (Python) and this front-end, as JSDoc types checked
// by tsc. The contract is documented once, in docs/widgets.md; Python builds it in
// afnio_widgets/_graph.py and afnio_widgets/_state.py. A GraphView's `graph_json` trait holds a
// Graph as JSON text, a TrainingView's `data` trait a TrainingData.

/**
 * Any value a Variable may hold: text, a number, a boolean, null or a (nested) list.
 * @typedef {string | number | boolean | null | Array<any>} Data
 */

/**
 * A textual gradient.
 * @typedef {object} Gradient
 * @property {Data} data The feedback (a list for batched gradients).
 * @property {string} role Its role, e.g. "feedback to system prompt".
 * @property {string} preview One line, at most 60 characters.
 * @property {number | null} backward_id The backward pass that produced it, if known.
 */

/**
 * A model call (afnio.models.ModelCall.to_dict(), made JSON-safe). Every key is optional.
 * @typedef {object} ModelCall
 * @property {string} [phase] "forward", "backward" or "optimizer".
 * @property {{role?: string, content?: unknown}[]} [messages]
 * @property {Record<string, unknown>} [completion_args]
 * @property {unknown} [response]
 * @property {unknown} [parsed]
 * @property {Record<string, unknown>} [usage] Token counts (prompt_tokens, completion_tokens, total_tokens...).
 * @property {number | {amount?: number, currency?: string}} [cost]
 * @property {number} [latency] Seconds.
 * @property {number} [retries]
 * @property {boolean} [cache_hit]
 * @property {string | null} [error]
 */

/**
 * @typedef {object} VariableNode
 * @property {string} id Generated: "n0", "n1"...
 * @property {"variable"} kind
 * @property {string} role
 * @property {Data} data Full data (cut at 20,000 characters / 500 items; `truncated` says so).
 * @property {string} preview
 * @property {string} dtype "str", "int", "float", "bool", "none" or "list".
 * @property {string} shape
 * @property {number | null} batch Number of items when the data is a list.
 * @property {boolean} requires_grad
 * @property {boolean} is_leaf
 * @property {boolean} is_parameter
 * @property {boolean} retains_grad
 * @property {Gradient[]} grad Leaves: Variable.grad; others: gradients seen during backward.
 * @property {boolean} truncated
 * @property {boolean} is_root
 * @property {boolean} no_grad Computed by an operation that ran without grad.
 * @property {string | null} toggle_error afnio's error from the last refused requires_grad switch.
 * @property {boolean} [partial] Cut (long texts); ask the kernel for "details" to get all of it.
 */

/**
 * @typedef {object} FunctionNode
 * @property {string} id
 * @property {"function"} kind
 * @property {string} name Node.name(), e.g. "AddBackward0", "AccumulateGrad".
 * @property {number | null} sequence_nr
 * @property {boolean} accumulate Whether it is an AccumulateGrad node.
 * @property {boolean} no_grad An operation that ran without recording a node.
 * @property {string | null} group A sub-module name, if known.
 * @property {ModelCall[]} calls
 * @property {"idle" | "running" | "done" | "error"} state During/after backward.
 * @property {boolean} [partial]
 */

/** @typedef {VariableNode | FunctionNode} GraphNode */

/**
 * Edges point the way gradients flow: "output" from a Variable to the node that produced it
 * (output number `output_nr`), "input" from a node to the Variable it consumed (position
 * `index` in next_functions, which points to output `output_nr` of the producer), "next" from
 * node to node when the inputs are unknown.
 * @typedef {object} GraphEdge
 * @property {string} id
 * @property {string} source
 * @property {string} target
 * @property {"input" | "output" | "next"} kind
 * @property {number | null} index
 * @property {number} output_nr
 * @property {boolean} requires_grad False for inputs that receive no gradient.
 * @property {Gradient[]} grad Gradients that flowed along the edge.
 * @property {boolean} [partial]
 */

/**
 * @typedef {object} BackwardStatus
 * @property {number | null} id
 * @property {"idle" | "running" | "done" | "error"} status
 * @property {string | null} error
 * @property {number} visited
 * @property {BackwardStep[]} [steps] The engine's visit order in this pass (for replay).
 * @property {number} [clock] The pass's last tick (each node start and finish is one tick).
 */

/**
 * One node run by the engine: from tick `start` to tick `end` (null while it runs). Steps whose
 * spans overlap ran concurrently.
 * @typedef {object} BackwardStep
 * @property {string} node
 * @property {number} start
 * @property {number | null} end
 */

/**
 * @typedef {object} Graph
 * @property {"afnio-graph"} format
 * @property {1} version
 * @property {string[]} roots
 * @property {GraphNode[]} nodes
 * @property {GraphEdge[]} edges
 * @property {BackwardStatus} backward
 */

/**
 * Requests from a view to the kernel, and the kernel's answers (custom messages; everything a
 * view draws is in traits).
 * @typedef {{type: "ping"} | {type: "details", id: string} | {type: "set_requires_grad", id: string, value: boolean} | {type: "refresh"}} Request
 * @typedef {{type: "pong"} | {type: "details", id: string, item: GraphNode | GraphEdge} | {type: "toggled", id: string, error: string | null}} Answer
 */

/**
 * TrainingView data ("afnio-training").
 * @typedef {{step: number, epoch: number | null, batch: number | null, metrics: Record<string, number>}} StepRecord
 * @typedef {{step: number, epoch: number | null, metrics: Record<string, number>}} ValidationRecord
 * @typedef {{epoch: number | null, metrics: Record<string, number>}} EpochRecord
 * @typedef {{step: number, epoch: number | null, text: string}} ParameterVersion
 * @typedef {{prompt_tokens: number, completion_tokens: number, total_tokens: number, cost: number, currency: string, calls: number | null}} Usage
 * @typedef {object} TrainingData
 * @property {"afnio-training"} format
 * @property {1} version
 * @property {"idle" | "running" | "done" | "error"} status
 * @property {number | null} epoch
 * @property {StepRecord[]} steps
 * @property {ValidationRecord[]} validation
 * @property {EpochRecord[]} epochs
 * @property {Record<string, ParameterVersion[]>} parameters
 * @property {Usage} usage
 */

export {};
