/**
 * Types for the parts of `smpp@0.5.1` (farhadi/node-smpp) this project uses. The package ships no
 * types. Only what the connector and the test SMSC touch is declared; PDU fields are typed loosely
 * because the library decodes each command's parameters onto the PDU object itself.
 */
declare module 'smpp' {
  import { EventEmitter } from 'node:events';
  import { Server as NetServer, Socket } from 'node:net';

  /** A decoded `short_message` (or `message_payload`): the library splits off the UDH when UDHI is set. */
  export interface DecodedMessage {
    udh?: Buffer[];
    /** Text decoded per data_coding (GSM 03.38 for 0, UTF-16BE for 8); a Buffer for codings it does not know. */
    message: string | Buffer;
  }

  export interface PduFields {
    command_status?: number;
    sequence_number?: number;
    system_id?: string;
    password?: string;
    system_type?: string;
    interface_version?: number;
    addr_ton?: number;
    addr_npi?: number;
    address_range?: string;
    service_type?: string;
    source_addr_ton?: number;
    source_addr_npi?: number;
    source_addr?: string;
    dest_addr_ton?: number;
    dest_addr_npi?: number;
    destination_addr?: string;
    esm_class?: number;
    protocol_id?: number;
    priority_flag?: number;
    schedule_delivery_time?: string;
    validity_period?: string;
    registered_delivery?: number;
    replace_if_present_flag?: number;
    data_coding?: number | null;
    sm_default_msg_id?: number;
    /**
     * A Buffer is sent byte for byte (the library leaves data_coding alone); a string or
     * `{ message, udh }` is encoded by the library. Received PDUs carry a DecodedMessage, except a
     * deliver_sm received by the connector: its bytes (see smpp-connector.ts).
     */
    short_message?: Buffer | string | DecodedMessage;
    message_id?: string;
    /** TLV 0x001E */
    receipted_message_id?: string;
    /** TLV 0x0427 */
    message_state?: number;
    /** TLV 0x0424 */
    message_payload?: Buffer | string | DecodedMessage;
    /** TLV 0x0423: network type (1 byte) + error code (2 bytes). */
    network_error_code?: Buffer;
  }

  export class PDU implements PduFields {
    constructor(command: string, options?: PduFields);
    constructor(buffer: Buffer);
    command: string;
    command_id: number;
    command_length: number;
    command_status: number;
    sequence_number: number;
    isResponse(): boolean;
    response(options?: PduFields): PDU;
    toBuffer(): Buffer;
    static fromBuffer(buffer: Buffer): PDU | false;
    static maxLength: number;

    system_id?: string;
    password?: string;
    system_type?: string;
    interface_version?: number;
    addr_ton?: number;
    addr_npi?: number;
    address_range?: string;
    service_type?: string;
    source_addr_ton?: number;
    source_addr_npi?: number;
    source_addr?: string;
    dest_addr_ton?: number;
    dest_addr_npi?: number;
    destination_addr?: string;
    esm_class?: number;
    protocol_id?: number;
    priority_flag?: number;
    schedule_delivery_time?: string;
    validity_period?: string;
    registered_delivery?: number;
    replace_if_present_flag?: number;
    data_coding?: number | null;
    sm_default_msg_id?: number;
    short_message?: Buffer | string | DecodedMessage;
    message_id?: string;
    receipted_message_id?: string;
    message_state?: number;
    message_payload?: Buffer | string | DecodedMessage;
    network_error_code?: Buffer;
  }

  type ResponseCallback = (pdu: PDU) => void;
  type SendCallback = (pdu: PDU) => void;
  type Shortcut = {
    (options: PduFields, responseCallback?: ResponseCallback, sendCallback?: SendCallback): boolean;
    (responseCallback?: ResponseCallback, sendCallback?: SendCallback): boolean;
  };

  export interface ConnectOptions {
    host?: string;
    port?: number;
    url?: string;
    tls?: boolean;
    /** The library's own enquire_link timer; this project runs its own to detect dead links. */
    auto_enquire_link_period?: number;
  }

  export class Session extends EventEmitter {
    constructor(options: ConnectOptions & { socket?: Socket });
    readonly socket: Socket;
    /** Set on sessions accepted by a Server. */
    server?: Server;
    sequence: number;
    paused: boolean;
    /** Returns false (and never calls back) when the socket is no longer writable. */
    send(pdu: PDU, responseCallback?: ResponseCallback, sendCallback?: SendCallback): boolean;
    pause(): void;
    resume(): void;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;

    bind_transceiver: Shortcut;
    bind_transceiver_resp: Shortcut;
    bind_transmitter: Shortcut;
    bind_receiver: Shortcut;
    submit_sm: Shortcut;
    submit_sm_resp: Shortcut;
    deliver_sm: Shortcut;
    deliver_sm_resp: Shortcut;
    enquire_link: Shortcut;
    enquire_link_resp: Shortcut;
    unbind: Shortcut;
    unbind_resp: Shortcut;
    generic_nack: Shortcut;

    on(event: 'connect' | 'secureConnect' | 'close', listener: () => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'pdu' | 'send' | string, listener: (pdu: PDU) => void): this;
    once(event: 'connect' | 'secureConnect' | 'close', listener: () => void): this;
    once(event: 'error', listener: (error: Error) => void): this;
    once(event: 'pdu' | 'send' | string, listener: (pdu: PDU) => void): this;
  }

  export class Server extends NetServer {
    sessions: Session[];
    on(event: 'session', listener: (session: Session) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
  }

  export function createServer(listener?: (session: Session) => void): Server;
  export function createServer(options: { key?: unknown; cert?: unknown }, listener?: (session: Session) => void): Server;
  export function connect(options: ConnectOptions, listener?: () => void): Session;
  export function connect(url: string, listener?: () => void): Session;

  export const ESME_ROK: number;
  export const ESME_RINVMSGLEN: number;
  export const ESME_RINVBNDSTS: number;
  export const ESME_RSYSERR: number;
  export const ESME_RINVDSTADR: number;
  export const ESME_RBINDFAIL: number;
  export const ESME_RINVPASWD: number;
  export const ESME_RINVSYSID: number;
  export const ESME_RMSGQFUL: number;
  export const ESME_RSUBMITFAIL: number;
  export const ESME_RTHROTTLED: number;
  export const ESME_RX_T_APPN: number;

  export const errors: Record<string, number>;

  interface Codec {
    match(value: string): boolean;
    encode(value: string): Buffer;
    decode(value: Buffer): string;
  }
  /** How the library reads a field from a received PDU and writes it to one sent. */
  export interface FieldFilter {
    encode(this: PDU, value: any): any;
    decode(this: PDU, value: any, skipUdh?: boolean): any;
  }
  /** The library's command table: each command's mandatory parameters, in order, with their filters. */
  /** The same table by command_id. */
  export const commandsById: Record<number, { command: string } | undefined>;
  export const commands: Record<string, { id: number; params?: Record<string, { type: unknown; filter?: FieldFilter }> } | undefined>;

  /** `ASCII` is in fact the GSM 03.38 default alphabet (the library's naming). */
  export const encodings: { ASCII: Codec; LATIN1: Codec; UCS2: Codec; default: string };
}
