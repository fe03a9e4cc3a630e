// A standard Twilio Function handler.
exports.handler = function (context, event, callback) {
  const twiml = new Twilio.twiml.MessagingResponse();
  twiml.message(`${context.GREETING || 'hello'} from depot`);
  callback(null, twiml);
};
