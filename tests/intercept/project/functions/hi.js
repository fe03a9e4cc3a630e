exports.handler = function (context, event, callback) {
  callback(null, { greeting: 'hi from depot' });
};
