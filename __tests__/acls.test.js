// ACLs through kafkajs' admin: created, described by filter, deleted by filter.
const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = require('kafkajs')
const { startBroker, uniqueName, waitUntil } = require('./helpers')

describe('ACL administration', () => {
  let broker
  let admin

  before(async () => {
    broker = await startBroker()
    admin = new Kafka({ clientId: 'acls-test', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
  })

  after(async () => {
    await admin.disconnect()
    await broker.stop()
  })

  const acl = (resourceName, principal, operation, resourcePatternType = ResourcePatternTypes.LITERAL) => ({
    resourceType: AclResourceTypes.TOPIC,
    resourceName,
    resourcePatternType,
    principal,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  })

  const anyFilter = {
    resourceType: AclResourceTypes.ANY,
    resourcePatternType: ResourcePatternTypes.ANY,
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  }

  test('created ACLs are described by filter and deleted by filter', async () => {
    // Names of this run only, so the counts hold on a broker other tests share.
    const run = uniqueName('acl')
    const orders = `${run}-orders`
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((name) => `User:${run}-${name}`)
    await admin.createAcls({
      acl: [
        acl(orders, alice, AclOperationTypes.WRITE),
        acl(orders, bob, AclOperationTypes.READ),
        acl(`${run}-ord`, carol, AclOperationTypes.READ, ResourcePatternTypes.PREFIXED),
      ],
    })
    const matchingOrders = {
      ...anyFilter,
      resourceType: AclResourceTypes.TOPIC,
      resourceName: orders,
      resourcePatternType: ResourcePatternTypes.MATCH,
    }
    const principalsOf = async (filter) => {
      const { resources } = await admin.describeAcls(filter)
      return resources.flatMap((r) => r.acls.map((a) => a.principal)).sort()
    }
    // Kafka's brokers learn of new ACLs from the metadata log a moment after CreateAcls answers.
    const principals = await waitUntil(async () => {
      const found = await principalsOf(matchingOrders)
      return found.length >= 3 && found
    }, 'the three ACLs to be described')
    assert.deepEqual(principals, [alice, bob, carol], 'MATCH includes the prefixed ACL')

    const onlyBob = await admin.describeAcls({ ...anyFilter, principal: bob })
    assert.deepEqual(onlyBob.resources, [{
      resourceType: AclResourceTypes.TOPIC,
      resourceName: orders,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      acls: [{ principal: bob, host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW }],
    }])

    const deleted = await admin.deleteAcls({ filters: [{ ...anyFilter, principal: alice }] })
    assert.equal(deleted.filterResponses[0].matchingAcls.length, 1)
    await waitUntil(async () => !(await principalsOf(matchingOrders)).includes(alice), 'the deleted ACL to go')
    assert.deepEqual(await principalsOf(matchingOrders), [bob, carol])
  })

  test('an ACL Kafka would not store is refused', async () => {
    await assert.rejects(
      admin.createAcls({ acl: [acl('orders', 'alice-without-type', AclOperationTypes.READ)] }),
      (err) => /INVALID_REQUEST|principal/i.test(`${err.type} ${err.message}`),
    )
  })
})
